//! `rwlock`: RWLOCK READ and WRITE (a quarter writers) on two names, TTL 1 s, each
//! attempt a fresh owner (a lost reply never turns into a renewal), a third with WAIT
//! 1500; hold 20-300 ms (a quarter EXTEND first), RELEASE 80% of the time, else let the
//! lease run out. Recorded as `acquire` / `acquire-wait` with `:mode`, and for the
//! `rwlock` checker each grant carries `:count` and `:limit` so that a writer weighs the
//! whole limit and a reader one unit (see checkers/rwlock.rs).

use std::time::Duration;

use rand::Rng;
use redis::Value;

use super::{args, Worker};
use crate::client::{as_int, Outcome};
use crate::history::{i, map, s, Type, V};

/// Names the workload uses.
pub const NAMES: usize = 2;
/// The lease.
pub const TTL_MS: u64 = 1000;
/// How long a WAIT acquire queues; below the client's 2.5 s timeout.
pub const WAIT_MS: u64 = 1500;
/// A writer's weight: more than every reader there can be at once (one per worker).
pub const WRITER: u64 = 1000;

/// The client loop.
pub async fn run(mut wk: Worker) {
    let mut n = 0u64;
    while wk.live() {
        n += 1;
        let name = format!("rw{}", wk.rng.random_range(0..NAMES));
        let owner = format!("{}-{n}", wk.owner());
        let write = wk.rng.random_bool(0.25);
        let wait = wk.rng.random_bool(0.35);
        if let Some(t) = acquire(&mut wk, &name, &owner, write, wait).await {
            if wk.rng.random_bool(0.25) {
                call01(&mut wk, "extend", &name, &owner, t, Some(TTL_MS)).await;
            }
            let ms = wk.rng.random_range(20..300);
            wk.sleep(Duration::from_millis(ms)).await;
            if wk.rng.random_bool(0.8) {
                call01(&mut wk, "release", &name, &owner, t, None).await;
            }
        }
        wk.pace().await;
    }
}

/// RWLOCK READ|WRITE name owner TTL [WAIT ms]; `:token` (nil when not granted).
async fn acquire(wk: &mut Worker, name: &str, owner: &str, write: bool, wait: bool) -> Option<u64> {
    let f = if wait { "acquire-wait" } else { "acquire" };
    let mode = if write { "WRITE" } else { "READ" };
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(owner)),
        ("mode", s(mode)),
        ("ttl", i(TTL_MS)),
        ("count", i(if write { WRITER } else { 1 })),
        ("limit", i(WRITER)),
    ]);
    let mut cmd = args(&[&"RWLOCK", &mode, &name, &owner, &TTL_MS]);
    if wait {
        cmd.extend(args(&[&"WAIT", &WAIT_MS]));
    }
    match wk.call(f, &req, &cmd).await {
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

/// RWLOCK RELEASE / EXTEND, answered :1 or :0 (`:released` / `:extended`).
async fn call01(wk: &mut Worker, f: &'static str, name: &str, owner: &str, token: u64, ttl: Option<u64>) {
    let (verb, key) = if f == "extend" {
        ("EXTEND", "extended")
    } else {
        ("RELEASE", "released")
    };
    let mut req = map(vec![("name", s(name)), ("owner", s(owner)), ("token", i(token))]);
    let mut cmd = args(&[&"RWLOCK", &verb, &name, &owner, &token]);
    if let Some(t) = ttl {
        req = req.with("ttl", i(t));
        cmd.extend(args(&[&t]));
    }
    match wk.call(f, &req, &cmd).await {
        Outcome::Ok(v) if as_int(&v).is_some() => wk.done(Type::Ok, f, req.with(key, V::Int(as_int(&v).unwrap_or(0)))),
        other => wk.done_other(f, &req, &other),
    }
}
