//! `semaphore`: a bulkhead of LIMIT permits on two names. Each attempt is a fresh holder
//! asking for 1..=3 permits (so a lost reply never turns into a renewal), a third of
//! them with WAIT; a holder keeps its permits a while (a quarter EXTEND first), then
//! releases, or lets the lease run out. A worker reads SEMAPHORE INFO now and then and
//! after every refusal, whose waiter count tells the checker who was certainly queued
//! (for FIFO).

use std::time::Duration;

use rand::Rng;
use redis::Value;

use super::{args, Worker};
use crate::client::{as_int, as_items, as_text, Outcome};
use crate::history::{i, map, s, Type, V};

/// Names the workload uses.
pub const NAMES: usize = 2;
/// Permits per name: small against six workers asking for up to 3 each.
pub const LIMIT: u64 = 5;
/// The lease, short so that expiries hand permits on too.
pub const TTL_MS: u64 = 1000;
/// How long a WAIT acquire queues; below the client's 2.5 s timeout.
pub const WAIT_MS: u64 = 1500;

/// The client loop.
pub async fn run(mut wk: Worker) {
    let mut n = 0u64;
    while wk.live() {
        n += 1;
        let name = format!("sem{}", wk.rng.random_range(0..NAMES));
        if wk.rng.random_bool(0.2) {
            info(&mut wk, &name).await;
        }
        let holder = format!("{}-{n}", wk.owner());
        let count = wk.rng.random_range(1..=3u64);
        let wait = wk.rng.random_bool(0.35).then_some(WAIT_MS);
        let granted = acquire(&mut wk, &name, &holder, count, wait).await;
        if granted.is_none() && wait.is_none() {
            // Refused for want of permits: others may be queued, which an INFO now can
            // prove (the FIFO check needs an INFO that accounts for every waiter).
            info(&mut wk, &name).await;
        }
        if let Some(t) = granted {
            let ms = wk.rng.random_range(50..600);
            if wk.rng.random_bool(0.25) {
                extend(&mut wk, &name, &holder, t).await;
            }
            wk.sleep(Duration::from_millis(ms)).await;
            if wk.rng.random_bool(0.8) {
                release(&mut wk, &name, &holder, t).await;
            }
        }
        wk.pace().await;
    }
}

/// SEMAPHORE ACQUIRE name holder LIMIT TTL COUNT n [WAIT ms], as `acquire` or
/// `acquire-wait` with `:token` (nil when not granted).
async fn acquire(wk: &mut Worker, name: &str, holder: &str, count: u64, wait: Option<u64>) -> Option<u64> {
    let f = if wait.is_some() { "acquire-wait" } else { "acquire" };
    let mut req = map(vec![
        ("name", s(name)),
        ("owner", s(holder)),
        ("limit", i(LIMIT)),
        ("ttl", i(TTL_MS)),
        ("count", i(count)),
    ]);
    let mut cmd = args(&[
        &"SEMAPHORE",
        &"ACQUIRE",
        &name,
        &holder,
        &LIMIT,
        &TTL_MS,
        &"COUNT",
        &count,
    ]);
    if let Some(w) = wait {
        req = req.with("wait", i(w));
        cmd.extend(args(&[&"WAIT", &w]));
    }
    let o = wk.call(f, &req, &cmd).await;
    match o {
        Outcome::Ok(Value::Nil) => {
            wk.done(Type::Ok, f, req.with("token", V::Nil));
            None
        }
        Outcome::Ok(v) if as_int(&v).is_some() => {
            let t = as_int(&v).unwrap_or(0) as u64;
            wk.done(Type::Ok, f, req.with("token", i(t)));
            Some(t)
        }
        other => {
            wk.done_other(f, &req, &other);
            None
        }
    }
}

/// SEMAPHORE EXTEND name holder token TTL, as `extend` with `:extended`.
async fn extend(wk: &mut Worker, name: &str, holder: &str, token: u64) {
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(holder)),
        ("token", i(token)),
        ("ttl", i(TTL_MS)),
    ]);
    let o = wk
        .call(
            "extend",
            &req,
            &args(&[&"SEMAPHORE", &"EXTEND", &name, &holder, &token, &TTL_MS]),
        )
        .await;
    match o {
        Outcome::Ok(v) if as_int(&v).is_some() => wk.done(
            Type::Ok,
            "extend",
            req.with("extended", V::Int(as_int(&v).unwrap_or(0))),
        ),
        other => wk.done_other("extend", &req, &other),
    }
}

/// SEMAPHORE RELEASE name holder token, as `release` with `:released`.
async fn release(wk: &mut Worker, name: &str, holder: &str, token: u64) {
    let req = map(vec![("name", s(name)), ("owner", s(holder)), ("token", i(token))]);
    let o = wk
        .call(
            "release",
            &req,
            &args(&[&"SEMAPHORE", &"RELEASE", &name, &holder, &token]),
        )
        .await;
    match o {
        Outcome::Ok(v) if as_int(&v).is_some() => wk.done(
            Type::Ok,
            "release",
            req.with("released", V::Int(as_int(&v).unwrap_or(0))),
        ),
        other => wk.done_other("release", &req, &other),
    }
}

/// SEMAPHORE INFO name, as `sem-info` with `:used` and `:waiters` (0 when nil).
async fn info(wk: &mut Worker, name: &str) {
    let req = map(vec![("name", s(name))]);
    let o = wk.call("sem-info", &req, &args(&[&"SEMAPHORE", &"INFO", &name])).await;
    match o {
        Outcome::Ok(Value::Nil) => wk.done(Type::Ok, "sem-info", req.with("used", i(0)).with("waiters", i(0))),
        Outcome::Ok(v) if as_items(&v).is_some() => {
            let mut out = req.clone();
            for kv in as_items(&v).unwrap_or_default().chunks(2) {
                if let [k, val] = kv {
                    match as_text(k).as_deref() {
                        Some("used") => out = out.with("used", V::Int(as_int(val).unwrap_or(-1))),
                        Some("waiters") => out = out.with("waiters", V::Int(as_int(val).unwrap_or(-1))),
                        _ => {}
                    }
                }
            }
            wk.done(Type::Ok, "sem-info", out)
        }
        other => wk.done_other("sem-info", &req, &other),
    }
}
