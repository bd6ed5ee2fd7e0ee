//! `lock`: ACQUIRE / INFO / EXTEND / RELEASE cycles on a few names, each worker one owner. A
//! worker whose ACQUIRE or RELEASE outcome is unknown re-acquires the same name next
//! (a same-owner re-acquire tells it the token), so no lease is left behind for long.

use std::time::Duration;

use rand::Rng;
use redis::Value;

use super::{args, Worker};
use crate::client::{as_int, as_items, as_text, Outcome};
use crate::history::{i, map, s, Type, V};

/// Names the workload uses (several, so each name's history stays searchable).
pub const NAMES: usize = 6;
/// Lease length: long against one cycle, short enough that a lost holder frees.
pub const TTL_MS: u64 = 5000;

/// ACQUIRE name owner ttl; records it; returns the token if granted.
pub async fn acquire(wk: &mut Worker, name: &str, ttl: u64) -> Option<u64> {
    let owner = wk.owner();
    let req = map(vec![("name", s(name)), ("owner", s(owner.clone())), ("ttl", i(ttl))]);
    let o = wk
        .call("acquire", &req, &args(&[&"LOCK", &"ACQUIRE", &name, &owner, &ttl]))
        .await;
    match o {
        Outcome::Ok(Value::Nil) => {
            wk.done(Type::Ok, "acquire", req.with("token", V::Nil));
            None
        }
        Outcome::Ok(v) if as_int(&v).is_some() => {
            let t = as_int(&v).unwrap_or(0) as u64;
            wk.done(Type::Ok, "acquire", req.with("token", i(t)));
            Some(t)
        }
        other => {
            wk.done_other("acquire", &req, &other);
            None
        }
    }
}

/// RELEASE name owner token; records it.
pub async fn release(wk: &mut Worker, name: &str, token: u64) -> Option<bool> {
    let owner = wk.owner();
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(owner.clone())),
        ("token", i(token)),
    ]);
    let o = wk
        .call("release", &req, &args(&[&"LOCK", &"RELEASE", &name, &owner, &token]))
        .await;
    match o {
        Outcome::Ok(v) if as_int(&v).is_some() => {
            let r = as_int(&v).unwrap_or(0);
            wk.done(Type::Ok, "release", req.with("released", i(r as u64)));
            Some(r == 1)
        }
        other => {
            wk.done_other("release", &req, &other);
            None
        }
    }
}

/// EXTEND name owner token ttl; records it (`:extended` 1 or 0). `owner` and `token` are
/// arguments, not this worker's, so that a workload can also try someone else's lease.
pub async fn extend(wk: &mut Worker, name: &str, owner: &str, token: u64, ttl: u64) -> Option<bool> {
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(owner)),
        ("token", i(token)),
        ("ttl", i(ttl)),
    ]);
    let o = wk
        .call(
            "extend",
            &req,
            &args(&[&"LOCK", &"EXTEND", &name, &owner, &token, &ttl]),
        )
        .await;
    match o {
        Outcome::Ok(v) if as_int(&v).is_some() => {
            let r = as_int(&v).unwrap_or(0);
            wk.done(Type::Ok, "extend", req.with("extended", i(r as u64)));
            Some(r == 1)
        }
        other => {
            wk.done_other("extend", &req, &other);
            None
        }
    }
}

/// INFO name; records holder and token (nil when free).
pub async fn info(wk: &mut Worker, name: &str) -> Option<Option<(String, u64, u64)>> {
    let req = map(vec![("name", s(name))]);
    let o = wk.call("info", &req, &args(&[&"LOCK", &"INFO", &name])).await;
    match o {
        Outcome::Ok(Value::Nil) => {
            wk.done(Type::Ok, "info", req.with("holder", V::Nil));
            Some(None)
        }
        Outcome::Ok(v) if as_items(&v).is_some() => {
            let items = as_items(&v).unwrap_or_default();
            let mut holder = None;
            let (mut token, mut waiters) = (0u64, 0u64);
            for kv in items.chunks(2) {
                if let [k, val] = kv {
                    match as_text(k).as_deref() {
                        Some("owner") => holder = as_text(val),
                        Some("token") => token = as_int(val).unwrap_or(0) as u64,
                        Some("waiters") => waiters = as_int(val).unwrap_or(0) as u64,
                        _ => {}
                    }
                }
            }
            let Some(h) = holder else {
                wk.done(Type::Info, "info", req.with("error", s("INFO without owner")));
                return None;
            };
            wk.done(
                Type::Ok,
                "info",
                req.with("holder", s(h.clone()))
                    .with("token", i(token))
                    .with("waiters", i(waiters)),
            );
            Some(Some((h, token, waiters)))
        }
        other => {
            wk.done_other("info", &req, &other);
            None
        }
    }
}

/// The client loop.
pub async fn run(mut wk: Worker) {
    // A name this worker may hold without knowing its token.
    let mut unsure: Option<String> = None;
    while wk.live() {
        let name = unsure
            .take()
            .unwrap_or_else(|| format!("lk{}", wk.rng.random_range(0..NAMES)));
        let granted = acquire(&mut wk, &name, TTL_MS).await;
        match granted {
            Some(t) => {
                if wk.rng.random_bool(0.3) {
                    info(&mut wk, &name).await;
                }
                if wk.rng.random_bool(0.2) {
                    // Renew the lease (the model restarts it at the EXTEND).
                    let owner = wk.owner();
                    extend(&mut wk, &name, &owner, t, TTL_MS).await;
                }
                let d = Duration::from_millis(wk.rng.random_range(0..20));
                wk.sleep(d).await;
                if release(&mut wk, &name, t).await.is_none() {
                    unsure = Some(name);
                }
            }
            None => {
                if wk.rng.random_bool(0.3) {
                    info(&mut wk, &name).await;
                }
            }
        }
        wk.pace().await;
    }
}
