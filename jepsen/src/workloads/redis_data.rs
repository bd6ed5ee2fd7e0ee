//! `redis-data`: the Redis data commands that change state, sent as a Redis client
//! library would, on twelve small key families (three each of strings, hashes, lists,
//! sorted sets), mixed with reads of the same keys. Every call is recorded as `kv` with
//! its family, its words and its canonical reply, and the `redis-data` checker searches
//! each family's history for a linearization under Redis's semantics (`kv_model.rs`).
//!
//! A tenth of the string-family calls are MULTI / two commands / EXEC transactions.
//! No command spans two families, so families compose. TTLs are set far in the future
//! (no key expires in a run), values written are unique numbers from the run's element
//! counter, and an error reply (e.g. RENAME of a missing key) is recorded as `:info`.

use rand::seq::IndexedRandom;
use rand::Rng;
use redis::Value;

use super::Worker;
use crate::client::Outcome;
use crate::history::{map, s, Type, V};

/// Families per kind.
const PER_KIND: usize = 3;
/// A far-future expiry time (2100-01-01), in s.
const FAR_S: u64 = 4_102_444_800;

/// The reply as the model writes it: `nil`, text, `[a,b]` for arrays.
fn canon(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(n) => n.to_string(),
        Value::Okay => "OK".into(),
        Value::SimpleString(t) => t.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Array(items) | Value::Set(items) => {
            format!("[{}]", items.iter().map(canon).collect::<Vec<_>>().join(","))
        }
        Value::ServerError(_) => "err".into(),
        other => format!("{other:?}"),
    }
}

/// HGETALL's pairs in field order, and PTTL as `ttl` / -1 / -2: what the model can know.
fn normalise(words: &[String], v: &Value) -> String {
    match (words[0].as_str(), v) {
        ("HGETALL", Value::Array(items)) => {
            let mut pairs: Vec<(String, String)> = items
                .chunks(2)
                .map(|kv| (canon(&kv[0]), canon(kv.get(1).unwrap_or(&Value::Nil))))
                .collect();
            pairs.sort();
            format!(
                "[{}]",
                pairs
                    .into_iter()
                    .flat_map(|(f, x)| [f, x])
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        ("PTTL", Value::Int(n)) if *n > 0 => "ttl".into(),
        _ => canon(v),
    }
}

fn w(parts: &[&dyn std::fmt::Display]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// One string-family command on keys `a`, `b`.
fn strings(wk: &mut Worker, k: usize) -> Vec<String> {
    let (a, b) = (format!("rd-s{k}a"), format!("rd-s{k}b"));
    let (e, e2) = (wk.shared.element(), wk.shared.element());
    let far_ms = FAR_S * 1000;
    let all: Vec<Vec<String>> = vec![
        w(&[&"GET", &a]),
        w(&[&"GET", &b]),
        w(&[&"PTTL", &a]),
        w(&[&"SET", &a, &e]),
        w(&[&"SET", &a, &e, &"NX"]),
        w(&[&"SET", &a, &e, &"XX"]),
        w(&[&"SET", &a, &e, &"GET"]),
        w(&[&"SET", &a, &e, &"PX", &100_000_000]),
        w(&[&"SET", &a, &e, &"KEEPTTL"]),
        w(&[&"SETNX", &a, &e]),
        w(&[&"SETEX", &a, &100_000, &e]),
        w(&[&"PSETEX", &a, &100_000_000, &e]),
        w(&[&"GETDEL", &a]),
        w(&[&"GETEX", &a, &"PX", &100_000_000]),
        w(&[&"GETEX", &a, &"PERSIST"]),
        w(&[&"MSET", &a, &e, &b, &e2]),
        w(&[&"INCR", &a]),
        w(&[&"DECR", &a]),
        w(&[&"INCRBY", &a, &3]),
        w(&[&"DECRBY", &a, &2]),
        w(&[&"INCRBYFLOAT", &a, &2]),
        w(&[&"APPEND", &b, &7]),
        w(&[&"DEL", &a]),
        w(&[&"UNLINK", &b]),
        w(&[&"DEL", &a, &b]),
        w(&[&"EXPIRE", &a, &100_000]),
        w(&[&"PEXPIRE", &a, &100_000_000]),
        w(&[&"EXPIREAT", &a, &FAR_S]),
        w(&[&"PEXPIREAT", &b, &far_ms]),
        w(&[&"PERSIST", &a]),
        w(&[&"RENAME", &a, &b]),
        w(&[&"RENAMENX", &b, &a]),
    ];
    all.choose(&mut wk.rng).cloned().unwrap_or_default()
}

/// One hash command on `h`, fields f0..f2.
fn hashes(wk: &mut Worker, k: usize) -> Vec<String> {
    let h = format!("rd-h{k}");
    let f = format!("f{}", wk.rng.random_range(0..3));
    let g = format!("f{}", wk.rng.random_range(0..3));
    let (e, e2) = (wk.shared.element(), wk.shared.element());
    let all: Vec<Vec<String>> = vec![
        w(&[&"HSET", &h, &f, &e]),
        w(&[&"HSET", &h, &f, &e, &g, &e2]),
        w(&[&"HMSET", &h, &f, &e]),
        w(&[&"HSETNX", &h, &f, &e]),
        w(&[&"HDEL", &h, &f]),
        w(&[&"HDEL", &h, &f, &g]),
        w(&[&"HINCRBY", &h, &f, &3]),
        w(&[&"HINCRBYFLOAT", &h, &f, &2]),
        w(&[&"HGETALL", &h]),
        w(&[&"HGETALL", &h]),
    ];
    all.choose(&mut wk.rng).cloned().unwrap_or_default()
}

/// One list command on `l`, values x, y, z.
fn lists(wk: &mut Worker, k: usize) -> Vec<String> {
    let l = format!("rd-l{k}");
    let v = *["x", "y", "z"].choose(&mut wk.rng).unwrap_or(&"x");
    let v2 = *["x", "y", "z"].choose(&mut wk.rng).unwrap_or(&"y");
    let all: Vec<Vec<String>> = vec![
        w(&[&"LPUSH", &l, &v]),
        w(&[&"RPUSH", &l, &v, &v2]),
        w(&[&"LPUSHX", &l, &v]),
        w(&[&"RPUSHX", &l, &v]),
        w(&[&"LPOP", &l]),
        w(&[&"RPOP", &l]),
        w(&[&"LPOP", &l, &2]),
        w(&[&"LTRIM", &l, &0, &4]),
        w(&[&"LREM", &l, &0, &v]),
        w(&[&"LRANGE", &l, &0, &-1]),
        w(&[&"LRANGE", &l, &0, &-1]),
    ];
    all.choose(&mut wk.rng).cloned().unwrap_or_default()
}

/// One sorted-set command on `z`, members m0..m3, small integer scores.
fn zsets(wk: &mut Worker, k: usize) -> Vec<String> {
    let z = format!("rd-z{k}");
    let m = format!("m{}", wk.rng.random_range(0..4));
    let sc = wk.rng.random_range(0..6);
    let all: Vec<Vec<String>> = vec![
        w(&[&"ZADD", &z, &sc, &m]),
        w(&[&"ZADD", &z, &"XX", &"CH", &sc, &m]),
        w(&[&"ZADD", &z, &"INCR", &sc, &m]),
        w(&[&"ZREM", &z, &m]),
        w(&[&"ZINCRBY", &z, &2, &m]),
        w(&[&"ZREMRANGEBYSCORE", &z, &0, &3]),
        w(&[&"ZREMRANGEBYRANK", &z, &0, &0]),
        w(&[&"ZRANGE", &z, &0, &-1, &"WITHSCORES"]),
        w(&[&"ZRANGE", &z, &0, &-1, &"WITHSCORES"]),
    ];
    all.choose(&mut wk.rng).cloned().unwrap_or_default()
}

/// The client loop.
pub async fn run(mut wk: Worker) {
    while wk.live() {
        let kind = wk.rng.random_range(0..4);
        let k = wk.rng.random_range(0..PER_KIND);
        if kind == 0 && wk.rng.random_bool(0.1) {
            let cmds = [strings(&mut wk, k), strings(&mut wk, k)];
            transaction(&mut wk, &format!("s{k}"), &cmds).await;
            wk.pace().await;
            continue;
        }
        let (family, words) = match kind {
            0 => (format!("s{k}"), strings(&mut wk, k)),
            1 => (format!("h{k}"), hashes(&mut wk, k)),
            2 => (format!("l{k}"), lists(&mut wk, k)),
            _ => (format!("z{k}"), zsets(&mut wk, k)),
        };
        let req = map(vec![
            ("family", s(family)),
            ("cmd", V::Vec(words.iter().map(|x| s(x.clone())).collect())),
        ]);
        let o = wk.call("kv", &req, &words).await;
        match o {
            Outcome::Ok(v) => wk.done(Type::Ok, "kv", req.with("reply", s(normalise(&words, &v)))),
            other => wk.done_other("kv", &req, &other),
        }
        wk.pace().await;
    }
}

/// MULTI, the commands (each answered QUEUED), EXEC: recorded as one `kv` op whose words
/// are `EXEC` and each command as one word. Until EXEC is sent nothing can apply, so a
/// failure before it is `:fail` (the connection is dropped, which discards the queue).
async fn transaction(wk: &mut Worker, family: &str, cmds: &[Vec<String>]) {
    let mut words = vec!["EXEC".to_string()];
    words.extend(cmds.iter().map(|c| c.join(" ")));
    let req = map(vec![
        ("family", s(family)),
        ("cmd", V::Vec(words.iter().map(|x| s(x.clone())).collect())),
    ]);
    wk.shared.ops_left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let p = crate::history::Proc::Client(wk.process);
    wk.shared.recorder.record(Type::Invoke, p, "kv", req.clone());
    for c in std::iter::once(&vec!["MULTI".to_string()]).chain(cmds) {
        match wk.client.call(c).await {
            Outcome::Ok(_) => {}
            other => {
                wk.client.reset();
                let why = format!("before EXEC, {}: {other:?}", c[0]);
                wk.done(Type::Fail, "kv", req.with("error", s(why)));
                return;
            }
        }
    }
    match wk.client.call(&["EXEC".to_string()]).await {
        Outcome::Ok(Value::Array(items)) if items.len() == cmds.len() => {
            // Each element as its command alone would have been written (PTTL as `ttl`).
            let each: Vec<String> = cmds.iter().zip(&items).map(|(c, v)| normalise(c, v)).collect();
            wk.done(Type::Ok, "kv", req.with("reply", s(format!("[{}]", each.join(",")))))
        }
        other => wk.done_other("kv", &req, &other),
    }
}
