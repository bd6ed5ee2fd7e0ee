//! `tokens`: many lock names and fresh IDEMP keys, so that grants and claims from the
//! one token sequence interleave; judged for uniqueness and real-time order.

use rand::Rng;
use redis::Value;

use super::{args, lock, Worker};
use crate::client::{as_int, as_items, as_text, Outcome};
use crate::history::{i, map, s, Type, V};

/// The client loop.
pub async fn run(mut wk: Worker) {
    let mut unsure: Option<String> = None;
    let mut n = 0u64;
    while wk.live() {
        n += 1;
        if unsure.is_none() && wk.rng.random_bool(0.3) {
            let key = format!("tk-w{}-{n}", wk.w);
            if let Some(t) = begin(&mut wk, &key, 1000).await {
                complete(&mut wk, &key, t, &format!("r{n}")).await;
            }
        } else {
            let name = unsure
                .take()
                .unwrap_or_else(|| format!("tl{}", wk.rng.random_range(0..20)));
            if let Some(t) = lock::acquire(&mut wk, &name, lock::TTL_MS).await {
                if lock::release(&mut wk, &name, t).await.is_none() {
                    unsure = Some(name);
                }
            }
        }
        wk.pace().await;
    }
}

/// IDEMP BEGIN key fp ttl LEASE lease; records the reply as :started / :pending / :done.
pub async fn begin(wk: &mut Worker, key: &str, lease: u64) -> Option<u64> {
    let req = map(vec![("key", s(key)), ("lease", i(lease))]);
    let cmd = args(&[&"IDEMP", &"BEGIN", &key, &"fp", &120000, &"LEASE", &lease]);
    let o = wk.call("begin", &req, &cmd).await;
    if let Outcome::Ok(v) = &o {
        if let Some(items) = as_items(v) {
            let tag = items.first().and_then(as_text);
            let val = items.get(1).cloned().unwrap_or(Value::Nil);
            match tag.as_deref() {
                Some("started") => {
                    let t = as_int(&val).unwrap_or(0) as u64;
                    wk.done(Type::Ok, "begin", req.with("started", i(t)));
                    return Some(t);
                }
                Some("pending") => {
                    wk.done(
                        Type::Ok,
                        "begin",
                        req.with("pending", V::Int(as_int(&val).unwrap_or(0))),
                    );
                    return None;
                }
                Some("done") => {
                    wk.done(
                        Type::Ok,
                        "begin",
                        req.with("done", s(as_text(&val).unwrap_or_default())),
                    );
                    return None;
                }
                _ => {}
            }
        }
    }
    wk.done_other("begin", &req, &o);
    None
}

/// IDEMP COMPLETE key token response; -STALE is a definite refusal (`:fail`).
pub async fn complete(wk: &mut Worker, key: &str, token: u64, response: &str) -> Option<bool> {
    let req = map(vec![("key", s(key)), ("token", i(token)), ("response", s(response))]);
    let o = wk
        .call(
            "complete",
            &req,
            &args(&[&"IDEMP", &"COMPLETE", &key, &token, &response]),
        )
        .await;
    match o {
        Outcome::Ok(_) => {
            wk.done(Type::Ok, "complete", req);
            Some(true)
        }
        Outcome::Refused(code, msg) if code == "STALE" => {
            wk.done(Type::Fail, "complete", req.with("error", s(format!("STALE {msg}"))));
            Some(false)
        }
        other => {
            wk.done_other("complete", &req, &other);
            None
        }
    }
}
