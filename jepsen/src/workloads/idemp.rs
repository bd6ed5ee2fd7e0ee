//! `idemp`: workers race for a small, sliding window of idempotency keys. A winner
//! works (sometimes past its lease, as a stalled worker would) and COMPLETEs, or now and
//! then ABORTs (and sometimes completes anyway, which must be refused); losers see
//! "pending" or replay "done"; GETs read replays too.

use std::time::{Duration, Instant};

use rand::Rng;
use redis::Value;

use super::{args, tokens, Worker};
use crate::client::{as_items, as_text, Outcome};
use crate::history::{map, s, Type, V};

/// The lease a claim gets.
pub const LEASE_MS: u64 = 1000;

/// The client loop.
pub async fn run(mut wk: Worker) {
    let start = Instant::now();
    let mut n = 0;
    while wk.live() {
        n += 1;
        let epoch = start.elapsed().as_secs() / 3;
        let key = format!("id{}-{}", epoch, wk.rng.random_range(0..4));
        if wk.rng.random_bool(0.2) {
            get(&mut wk, &key).await;
        } else if let Some(t) = tokens::begin(&mut wk, &key, LEASE_MS).await {
            let work = if wk.rng.random_bool(0.15) {
                LEASE_MS + wk.rng.random_range(100..500)
            } else {
                wk.rng.random_range(0..50)
            };
            wk.sleep(Duration::from_millis(work)).await;
            let resp = format!("w{}-{n}", wk.w);
            if wk.rng.random_bool(0.1) {
                // Give the claim up (the work failed): a retry may start at once. Now
                // and then the worker then completes anyway, which must be refused.
                abort(&mut wk, &key, t).await;
                if wk.rng.random_bool(0.3) {
                    tokens::complete(&mut wk, &key, t, &resp).await;
                }
            } else {
                tokens::complete(&mut wk, &key, t, &resp).await;
                if wk.rng.random_bool(0.05) {
                    // Aborting a completed claim must be refused.
                    abort(&mut wk, &key, t).await;
                }
            }
        }
        wk.pace().await;
    }
}

async fn get(wk: &mut Worker, key: &str) {
    let req = map(vec![("key", s(key))]);
    let o = wk.call("get", &req, &args(&[&"IDEMP", &"GET", &key])).await;
    match o {
        Outcome::Ok(Value::Nil) => wk.done(Type::Ok, "get", req.with("absent", V::Nil)),
        Outcome::Ok(v) if as_items(&v).is_some() => {
            let items = as_items(&v).unwrap_or_default();
            match items.first().and_then(as_text).as_deref() {
                Some("done") => {
                    let r = items.get(1).and_then(as_text).unwrap_or_default();
                    wk.done(Type::Ok, "get", req.with("done", s(r)))
                }
                _ => wk.done(Type::Ok, "get", req.with("pending", V::Nil)),
            }
        }
        other => wk.done_other("get", &req, &other),
    }
}

/// IDEMP ABORT key token; `:ok` dropped, `:fail` -STALE (not this claim's to drop).
async fn abort(wk: &mut Worker, key: &str, token: u64) {
    let req = map(vec![("key", s(key)), ("token", crate::history::i(token))]);
    let o = wk.call("abort", &req, &args(&[&"IDEMP", &"ABORT", &key, &token])).await;
    match o {
        Outcome::Ok(_) => wk.done(Type::Ok, "abort", req),
        Outcome::Refused(code, msg) if code == "STALE" => {
            wk.done(Type::Fail, "abort", req.with("error", s(format!("STALE {msg}"))))
        }
        other => wk.done_other("abort", &req, &other),
    }
}
