//! `redis-lock`: locks taken the way redis-py's `Lock` takes them, with plain Redis
//! commands: `SET name token NX PX ttl` to acquire, and its Lua scripts to release and
//! extend, run as redis-py runs them (EVALSHA of the script's digest; on -NOSCRIPT,
//! SCRIPT LOAD and EVALSHA again), now and then as a plain EVAL. The token is the
//! client's own unique value, not a fencing token, so the check is mutual exclusion
//! within lease bounds only (`redis-lock` checker); a tenth of the holders pause past
//! their TTL first, so that stale releases and extends are exercised.
//!
//! Recorded as `acquire` (`:token` the value set, nil when not set), `release`
//! (`:released`) and `extend` (`:extended`), the shapes the lease spans of `held.rs`
//! read.

use std::time::Duration;

use rand::Rng;
use redis::Value;

use super::{args, Worker};
use crate::client::{as_int, as_text, Outcome};
use crate::history::{i, map, s, Type, V};

/// Lock names.
pub const NAMES: usize = 2;
/// The lease (PX).
pub const TTL_MS: u64 = 1000;

/// redis-py's `Lock.LUA_RELEASE_SCRIPT`, re-indented: another SHA-1, so the server
/// runs it in Lua.
pub const RELEASE: &str = "local token = redis.call('get', KEYS[1])\n\
if not token or token ~= ARGV[1] then\n    return 0\nend\n\
redis.call('del', KEYS[1])\nreturn 1\n";

/// The same script byte for byte as redis-py sends it: the server recognises its SHA-1
/// and releases natively (`server/src/sm/script/known.rs`). Even workers send this one,
/// odd workers [`RELEASE`], so faults meet both paths.
pub const RELEASE_REDIS_PY: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    ";

/// redis-py's `Lock.LUA_EXTEND_SCRIPT` (ARGV: token, ms, replace_ttl "1"/"0").
pub const EXTEND: &str = "local token = redis.call('get', KEYS[1])\n\
if not token or token ~= ARGV[1] then\n    return 0\nend\n\
local expiration = redis.call('pttl', KEYS[1])\n\
if not expiration then\n    expiration = 0\nend\n\
if expiration < 0 then\n    return 0\nend\n\
local newttl = ARGV[2]\n\
if ARGV[3] == \"0\" then\n    newttl = ARGV[2] + expiration\nend\n\
redis.call('pexpire', KEYS[1], newttl)\nreturn 1\n";

/// One worker's script digests, learned from SCRIPT LOAD.
#[derive(Default)]
struct Shas {
    release: Option<String>,
    extend: Option<String>,
}

/// The client loop.
pub async fn run(mut wk: Worker) {
    let mut shas = Shas::default();
    let mut n = 0u64;
    while wk.live() {
        n += 1;
        let name = format!("rl{}", wk.rng.random_range(0..NAMES));
        // Unique per attempt: a lost SET can never be mistaken for a later one.
        let token = (wk.w as u64 + 1) * 1_000_000_000 + n;
        if acquire(&mut wk, &name, token).await {
            let pause = if wk.rng.random_bool(0.1) {
                TTL_MS + wk.rng.random_range(50..300)
            } else {
                wk.rng.random_range(10..200)
            };
            wk.sleep(Duration::from_millis(pause)).await;
            if wk.rng.random_bool(0.3) {
                let ttl = TTL_MS.to_string();
                script(&mut wk, &mut shas, "extend", &name, token, &[&ttl, "1"]).await;
            }
            script(&mut wk, &mut shas, "release", &name, token, &[]).await;
        }
        wk.pace().await;
    }
}

/// SET name token NX PX ttl; true when set.
async fn acquire(wk: &mut Worker, name: &str, token: u64) -> bool {
    let owner = wk.owner();
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(owner)),
        ("ttl", i(TTL_MS)),
        ("value", i(token)),
    ]);
    let o = wk
        .call("acquire", &req, &args(&[&"SET", &name, &token, &"NX", &"PX", &TTL_MS]))
        .await;
    match o {
        Outcome::Ok(Value::Nil) => {
            wk.done(Type::Ok, "acquire", req.with("token", V::Nil));
            false
        }
        Outcome::Ok(Value::Okay) => {
            wk.done(Type::Ok, "acquire", req.with("token", i(token)));
            true
        }
        other => {
            wk.done_other("acquire", &req, &other);
            false
        }
    }
}

/// Runs the release or extend script for (name, token) as redis-py would; records one
/// op `f` (`release` / `extend`) around the whole exchange.
async fn script(wk: &mut Worker, shas: &mut Shas, f: &'static str, name: &str, token: u64, extra: &[&str]) {
    let (body, key) = if f == "release" {
        let body = if wk.w % 2 == 0 { RELEASE_REDIS_PY } else { RELEASE };
        (body, "released")
    } else {
        (EXTEND, "extended")
    };
    let mut req = map(vec![("name", s(name)), ("owner", s(wk.owner())), ("token", i(token))]);
    if f == "extend" {
        req = req.with("ttl", i(TTL_MS));
    }
    let mut tail: Vec<String> = vec!["1".into(), name.into(), token.to_string()];
    tail.extend(extra.iter().map(|x| x.to_string()));
    wk.shared.ops_left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let p = crate::history::Proc::Client(wk.process);
    wk.shared.recorder.record(Type::Invoke, p, f, req.clone());
    let o = if wk.rng.random_bool(0.2) {
        let mut cmd = vec!["EVAL".to_string(), body.to_string()];
        cmd.extend(tail);
        wk.client.call(&cmd).await
    } else {
        evalsha(wk, shas, f, body, tail).await
    };
    match o {
        Outcome::Ok(v) if as_int(&v).is_some() => wk.done(Type::Ok, f, req.with(key, V::Int(as_int(&v).unwrap_or(0)))),
        other => wk.done_other(f, &req, &other),
    }
}

/// EVALSHA with redis-py's fallback: on -NOSCRIPT (or no digest yet) SCRIPT LOAD, then
/// EVALSHA again. -NOSCRIPT means nothing ran, so the retry cannot apply twice.
async fn evalsha(wk: &mut Worker, shas: &mut Shas, f: &str, body: &str, tail: Vec<String>) -> Outcome {
    let slot = if f == "release" {
        &mut shas.release
    } else {
        &mut shas.extend
    };
    for _ in 0..2 {
        let Some(sha) = slot.clone() else {
            match wk.client.call(&["SCRIPT".into(), "LOAD".into(), body.into()]).await {
                Outcome::Ok(v) => *slot = as_text(&v),
                other => return other,
            }
            continue;
        };
        let mut cmd = vec!["EVALSHA".to_string(), sha];
        cmd.extend(tail.iter().cloned());
        match wk.client.call(&cmd).await {
            Outcome::Refused(code, _) if code == "NOSCRIPT" => *slot = None,
            other => return other,
        }
    }
    Outcome::Fail("NOSCRIPT twice".into())
}
