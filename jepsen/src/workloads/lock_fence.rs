//! `lock-fence`: the etcd lock-set test with fencing. Acquire a short lease, FENCE GET
//! the resource's list, sometimes pause past the TTL (as a GC pause would), sometimes
//! EXTEND the lease (or try someone else's) and FENCE ADVANCE, FENCE SET the list plus
//! one new element with `LOCK <name>`, release. Now and then a client
//! also peeks at a resource without the lock, and always after a lost connection. Every read, peeks and the final read after
//! the heal included, must hold every element acknowledged before it was sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use redis::Value;

use super::{args, lock, Shared, Worker};
use crate::client::{as_int, as_items, as_text, Outcome};
use crate::history::{i, map, s, Type, V};

/// Resources (each guarded by its own lock).
pub const RESOURCES: usize = 2;
/// The lease; short, so that pauses past it are cheap.
pub const TTL_MS: u64 = 1000;

/// Parses "1,2,3" into a list.
pub fn parse_list(text: &str) -> Vec<i64> {
    text.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

fn list_v(list: &[i64]) -> V {
    V::Vec(list.iter().map(|x| V::Int(*x)).collect())
}

/// FENCE GET res -> the list (empty when the fence does not exist yet).
async fn read(wk: &mut Worker, f: &'static str, res: &str) -> Option<Vec<i64>> {
    let req = map(vec![("res", s(res))]);
    let o = wk.call(f, &req, &args(&[&"FENCE", &"GET", &res])).await;
    match o {
        Outcome::Ok(Value::Nil) => {
            wk.done(Type::Ok, f, req.with("elements", V::Vec(vec![])));
            Some(vec![])
        }
        Outcome::Ok(v) if as_items(&v).is_some() => {
            let items = as_items(&v).unwrap_or_default();
            let token = items.first().and_then(as_int).unwrap_or(0);
            let list = items
                .get(1)
                .and_then(as_text)
                .map(|t| parse_list(&t))
                .unwrap_or_default();
            wk.done(
                Type::Ok,
                f,
                req.with("elements", list_v(&list)).with("token", V::Int(token)),
            );
            Some(list)
        }
        other => {
            wk.done_other(f, &req, &other);
            None
        }
    }
}

/// Before the write, now and then: the holder renews its lease (EXTEND must answer 1
/// while it holds, 0 once a pause let the lease go), or tries EXTEND with another owner
/// name or a token it was not given, which must answer 0 (the `extend` checker).
async fn renew_or_probe(wk: &mut Worker, name: &str, token: u64) {
    let owner = wk.owner();
    let r: f64 = wk.rng.random();
    if r < 0.3 {
        lock::extend(wk, name, &owner, token, TTL_MS).await;
    } else if r < 0.4 {
        // An owner name no worker ever acquires with.
        let impostor = format!("{owner}-impostor");
        lock::extend(wk, name, &impostor, token, TTL_MS).await;
    } else if r < 0.5 {
        // This owner, a token it was not granted (tokens only grow, and this worker
        // asks for nothing else until this cycle ends).
        lock::extend(wk, name, &owner, token + 1, TTL_MS).await;
    }
}

/// FENCE ADVANCE res token LOCK name: raises the fence without writing; recorded as
/// `advance` (`:ok` accepted, `:fail` -STALE). Writes below it must then be refused.
async fn advance(wk: &mut Worker, res: &str, name: &str, token: u64) {
    let req = map(vec![("res", s(res)), ("token", i(token))]);
    let o = wk
        .call(
            "advance",
            &req,
            &args(&[&"FENCE", &"ADVANCE", &res, &token, &"LOCK", &name]),
        )
        .await;
    match o {
        Outcome::Ok(v) if as_int(&v).is_some() => wk.done(Type::Ok, "advance", req),
        Outcome::Refused(code, msg) if code == "STALE" => {
            wk.done(Type::Fail, "advance", req.with("error", s(format!("STALE {msg}"))))
        }
        other => wk.done_other("advance", &req, &other),
    }
}

/// The client loop.
pub async fn run(mut wk: Worker) {
    let mut unsure: Option<usize> = None;
    while wk.live() {
        let k = unsure.take().unwrap_or_else(|| wk.rng.random_range(0..RESOURCES));
        let (name, res) = (format!("lf{k}"), format!("r{k}"));
        if wk.shared.user.is_some() && wk.rng.random_bool(0.15) {
            super::acl::probe(&mut wk, k).await;
        }
        // A client that lost its connection (its node died, or a reply never came)
        // re-reads before it locks again, as a service resyncing after a reconnect
        // would; otherwise now and then.
        if !wk.client.is_connected() || wk.rng.random_bool(0.2) {
            // A read with no write of this client's before it: only a linearizable read
            // path can answer it right (a restarted leader must not serve its snapshot).
            read(&mut wk, "peek", &res).await;
        }
        let Some(token) = lock::acquire(&mut wk, &name, TTL_MS).await else {
            wk.pace().await;
            continue;
        };
        if let Some(list) = read(&mut wk, "read", &res).await {
            if wk.rng.random_bool(0.1) {
                // A pause past the lease: this holder is now stale, and must be fenced off.
                let d = Duration::from_millis(TTL_MS + wk.rng.random_range(100..400));
                wk.sleep(d).await;
            }
            renew_or_probe(&mut wk, &name, token).await;
            if wk.rng.random_bool(0.15) {
                advance(&mut wk, &res, &name, token).await;
            }
            let e = wk.shared.element();
            let mut next = list.clone();
            next.push(e);
            let text = next.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
            let req = map(vec![
                ("res", s(res.clone())),
                ("token", i(token)),
                ("element", V::Int(e)),
                ("elements", list_v(&next)),
            ]);
            let o = wk
                .call(
                    "write",
                    &req,
                    &args(&[&"FENCE", &"SET", &res, &token, &text, &"LOCK", &name]),
                )
                .await;
            match o {
                Outcome::Ok(_) => wk.done(Type::Ok, "write", req),
                Outcome::Refused(code, msg) if code == "STALE" => {
                    wk.done(Type::Fail, "write", req.with("error", s(format!("STALE {msg}"))))
                }
                other => wk.done_other("write", &req, &other),
            }
        }
        if lock::release(&mut wk, &name, token).await.is_none() {
            unsure = Some(k);
        }
        wk.pace().await;
    }
}

/// Reads every resource until it answers (bounded).
pub async fn final_reads(shared: Arc<Shared>) {
    let mut wk = Worker::new(shared.clone(), 0);
    for k in 0..RESOURCES {
        let res = format!("r{k}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if read(&mut wk, "final-read", &res).await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
