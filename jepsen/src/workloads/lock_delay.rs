//! `lock-delay`: LOCK ACQUIRE ... DELAY (Consul's lock-delay) on two names. Each attempt
//! is a fresh owner (a lost reply never turns into a renewal) asking for a lease of
//! 500-1000 ms, with a delay of 1000-1500 ms (a fifth of them with none), 30% of them
//! queueing with WAIT 1500-4000 ms. A holder renews with EXTEND first a fifth of the
//! time, then either releases after 20-300 ms (half the time) or *abandons* the lease: it
//! never renews nor releases it again, as a crashed holder would, so the lease ends by
//! expiry and the delay must keep everyone (queued waiters included) out after it.
//! Recorded as `acquire` / `acquire-wait` with `:ttl` and `:delay` (the `lock-delay`
//! checker reads both), and `extend` / `release` as the `lock` workload records them.

use std::time::Duration;

use rand::Rng;
use redis::Value;

use super::{args, lock, Worker};
use crate::client::{as_int, Client, Outcome};
use crate::cluster::addr;
use crate::history::{i, map, s, Type, V};

/// Names the workload uses.
pub const NAMES: usize = 2;
/// Lease lengths (ms), drawn uniformly.
pub const TTL_MS: (u64, u64) = (500, 1000);
/// Lock delays (ms), drawn uniformly.
pub const DELAY_MS: (u64, u64) = (1000, 1500);
/// WAIT lengths (ms): up to past a whole lease plus its delay.
pub const WAIT_MS: (u64, u64) = (1500, 4000);

/// The client loop.
pub async fn run(mut wk: Worker) {
    // WAIT calls block up to WAIT_MS: they go through a client whose timeout outlasts them.
    let slot = wk.w % wk.shared.nodes + 1;
    let mut slow = Client::as_user(
        addr(slot),
        Duration::from_millis(WAIT_MS.1) + wk.shared.op_timeout,
        wk.shared.user.clone(),
    );
    let mut n = 0u64;
    while wk.live() {
        n += 1;
        let name = format!("ld{}", wk.rng.random_range(0..NAMES));
        let owner = format!("{}-{n}", wk.owner());
        let ttl = wk.rng.random_range(TTL_MS.0..=TTL_MS.1);
        let delay = if wk.rng.random_bool(0.8) {
            wk.rng.random_range(DELAY_MS.0..=DELAY_MS.1)
        } else {
            0
        };
        let wait = wk
            .rng
            .random_bool(0.3)
            .then(|| wk.rng.random_range(WAIT_MS.0..=WAIT_MS.1));
        if let Some(t) = acquire(&mut wk, &mut slow, &name, &owner, ttl, delay, wait).await {
            if wk.rng.random_bool(0.2) {
                let ttl2 = wk.rng.random_range(TTL_MS.0..=TTL_MS.1);
                lock::extend(&mut wk, &name, &owner, t, ttl2).await;
            }
            if wk.rng.random_bool(0.5) {
                let d = Duration::from_millis(wk.rng.random_range(20..300));
                wk.sleep(d).await;
                release(&mut wk, &name, &owner, t).await;
            }
            // Else the holder "crashes": the lease runs out, and its delay with it.
        }
        wk.pace().await;
    }
}

/// LOCK ACQUIRE name owner ttl [WAIT ms] [DELAY ms]; `:token` (nil when not granted).
async fn acquire(
    wk: &mut Worker,
    slow: &mut Client,
    name: &str,
    owner: &str,
    ttl: u64,
    delay: u64,
    wait: Option<u64>,
) -> Option<u64> {
    let f = if wait.is_some() { "acquire-wait" } else { "acquire" };
    let mut req = map(vec![
        ("name", s(name)),
        ("owner", s(owner)),
        ("ttl", i(ttl)),
        ("delay", i(delay)),
    ]);
    let mut cmd = args(&[&"LOCK", &"ACQUIRE", &name, &owner, &ttl]);
    if let Some(w) = wait {
        req = req.with("wait", i(w));
        cmd.extend(args(&[&"WAIT", &w]));
    }
    if delay > 0 {
        cmd.extend(args(&[&"DELAY", &delay]));
    }
    let o = match wait {
        Some(_) => wk.call_via(slow, f, &req, &cmd).await,
        None => wk.call(f, &req, &cmd).await,
    };
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

/// LOCK RELEASE name owner token (`:released` 1 or 0).
async fn release(wk: &mut Worker, name: &str, owner: &str, token: u64) {
    let req = map(vec![("name", s(name)), ("owner", s(owner)), ("token", i(token))]);
    let o = wk
        .call("release", &req, &args(&[&"LOCK", &"RELEASE", &name, &owner, &token]))
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
