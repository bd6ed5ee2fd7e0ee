//! Arguments -> typed [`DataCmd`], with Redis's error texts. Pure: the command layer
//! and scripts (`redis.call`) share it, so a command means the same from either.

use bytes::Bytes;

use super::super::rval::F64;
use super::cmd::*;

/// A parse failure: the full error line (`ERR ...`).
pub type ParseError = String;
type P = Result<DataCmd, ParseError>;

pub const NOT_INT: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";

/// Redis's strict integer syntax: optional '-', no '+', no leading zeros or spaces.
pub fn int(b: &[u8]) -> Result<i64, ParseError> {
    strict_int(b).ok_or_else(|| NOT_INT.to_string())
}

/// `int` as an Option (for stored values).
pub fn strict_int(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') || s == "-0" {
        return None;
    }
    s.parse().ok()
}

/// A finite-or-infinite double, never NaN, as Redis reads one.
pub fn float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        l if l.contains("inf") || l.contains("nan") => return None,
        _ => s.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

fn kw(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

pub fn arity_err(name: &str) -> ParseError {
    format!("ERR wrong number of arguments for '{name}' command")
}

fn expire_err(name: &str) -> ParseError {
    format!("ERR invalid expire time in '{name}' command")
}

/// EX/PX/EXAT/PXAT value: positive, and in range once made milliseconds.
fn expiry(kind: &str, v: &[u8], cmd: &str) -> Result<Expiry, ParseError> {
    let n = int(v)?;
    if n <= 0 {
        return Err(expire_err(cmd));
    }
    let ms = |n: i64| n.checked_mul(1000).ok_or_else(|| expire_err(cmd));
    Ok(match kind {
        "EX" => Expiry::InMs(ms(n)?),
        "PX" => Expiry::InMs(n),
        "EXAT" => Expiry::AtMs(ms(n)?),
        _ => Expiry::AtMs(n),
    })
}

/// A table entry: the command's name, Redis arity (name included; negative = at
/// least), whether it writes, key positions (for COMMAND and routing) and its parser,
/// which gets the arguments after the name.
pub struct DataSpec {
    pub name: &'static str,
    pub arity: i64,
    pub write: bool,
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub summary: &'static str,
    pub parse: fn(&[Bytes]) -> P,
}

macro_rules! spec {
    ($name:literal, $arity:expr, $write:expr, $keys:expr, $group:literal, $parse:expr, $summary:literal) => {
        DataSpec {
            name: $name,
            arity: $arity,
            write: $write,
            first_key: $keys.0,
            last_key: $keys.1,
            step: $keys.2,
            group: $group,
            summary: $summary,
            parse: $parse,
        }
    };
}

const W: bool = true;
const R: bool = false;
const NOKEY: (i64, i64, i64) = (0, 0, 0);
const KEY1: (i64, i64, i64) = (1, 1, 1);
const ALLKEYS: (i64, i64, i64) = (1, -1, 1);

/// Every Redis data command fencepost serves.
#[rustfmt::skip]
pub static DATA_COMMANDS: &[DataSpec] = &[
    spec!("del", -2, W, ALLKEYS, "generic", |a| Ok(DataCmd::Del(a.to_vec())), "Deletes keys"),
    spec!("unlink", -2, W, ALLKEYS, "generic", |a| Ok(DataCmd::Del(a.to_vec())), "Deletes keys"),
    spec!("exists", -2, R, ALLKEYS, "generic", |a| Ok(DataCmd::Exists(a.to_vec())), "Counts existing keys"),
    spec!("type", 2, R, KEY1, "generic", |a| Ok(DataCmd::Type(a[0].clone())), "The kind of a key"),
    spec!("expire", -3, W, KEY1, "generic", |a| expire_cmd(a, 1000, false, "expire"), "Sets a TTL in seconds"),
    spec!("pexpire", -3, W, KEY1, "generic", |a| expire_cmd(a, 1, false, "pexpire"), "Sets a TTL in ms"),
    spec!("expireat", -3, W, KEY1, "generic", |a| expire_cmd(a, 1000, true, "expireat"), "Sets an expiry time (s)"),
    spec!("pexpireat", -3, W, KEY1, "generic", |a| expire_cmd(a, 1, true, "pexpireat"), "Sets an expiry time (ms)"),
    spec!("ttl", 2, R, KEY1, "generic", |a| Ok(DataCmd::Ttl { key: a[0].clone(), ms: false }), "Seconds to live"),
    spec!("pttl", 2, R, KEY1, "generic", |a| Ok(DataCmd::Ttl { key: a[0].clone(), ms: true }), "Milliseconds to live"),
    spec!("persist", 2, W, KEY1, "generic", |a| Ok(DataCmd::Persist(a[0].clone())), "Removes a TTL"),
    spec!("rename", 3, W, (1, 2, 1), "generic", |a| Ok(DataCmd::Rename { src: a[0].clone(), dst: a[1].clone(), nx: false }), "Renames a key"),
    spec!("renamenx", 3, W, (1, 2, 1), "generic", |a| Ok(DataCmd::Rename { src: a[0].clone(), dst: a[1].clone(), nx: true }), "Renames a key if the new name is free"),
    spec!("keys", 2, R, NOKEY, "generic", |a| Ok(DataCmd::Keys(a[0].clone())), "Keys matching a glob pattern"),
    spec!("scan", -2, R, NOKEY, "generic", scan, "Iterates the keyspace"),
    spec!("time", 1, R, NOKEY, "server", |_| Ok(DataCmd::Time), "The cluster clock"),
    spec!("get", 2, R, KEY1, "string", |a| Ok(DataCmd::Get(a[0].clone())), "A string's value"),
    spec!("set", -3, W, KEY1, "string", set, "Sets a string"),
    spec!("setnx", 3, W, KEY1, "string", |a| Ok(DataCmd::SetNx { key: a[0].clone(), val: a[1].clone() }), "Sets a string if absent"),
    spec!("setex", 4, W, KEY1, "string", |a| setex(a, "EX", "setex"), "Sets a string with a TTL (s)"),
    spec!("psetex", 4, W, KEY1, "string", |a| setex(a, "PX", "psetex"), "Sets a string with a TTL (ms)"),
    spec!("getdel", 2, W, KEY1, "string", |a| Ok(DataCmd::GetDel(a[0].clone())), "Gets and deletes"),
    spec!("getex", -2, W, KEY1, "string", getex, "Gets and changes the TTL"),
    spec!("mget", -2, R, ALLKEYS, "string", |a| Ok(DataCmd::MGet(a.to_vec())), "Several strings' values"),
    spec!("mset", -3, W, (1, -1, 2), "string", mset, "Sets several strings"),
    spec!("incr", 2, W, KEY1, "string", |a| Ok(DataCmd::IncrBy { key: a[0].clone(), by: 1 }), "Adds 1"),
    spec!("decr", 2, W, KEY1, "string", |a| Ok(DataCmd::IncrBy { key: a[0].clone(), by: -1 }), "Subtracts 1"),
    spec!("incrby", 3, W, KEY1, "string", |a| Ok(DataCmd::IncrBy { key: a[0].clone(), by: int(&a[1])? }), "Adds an integer"),
    spec!("decrby", 3, W, KEY1, "string", decrby, "Subtracts an integer"),
    spec!("incrbyfloat", 3, W, KEY1, "string", incrbyfloat, "Adds a float"),
    spec!("append", 3, W, KEY1, "string", |a| Ok(DataCmd::Append { key: a[0].clone(), val: a[1].clone() }), "Appends to a string"),
    spec!("strlen", 2, R, KEY1, "string", |a| Ok(DataCmd::Strlen(a[0].clone())), "A string's length"),
    spec!("hset", -4, W, KEY1, "hash", |a| hset(a, false, "hset"), "Sets hash fields"),
    spec!("hmset", -4, W, KEY1, "hash", |a| hset(a, true, "hmset"), "Sets hash fields (replies OK)"),
    spec!("hsetnx", 4, W, KEY1, "hash", |a| Ok(DataCmd::HSetNx { key: a[0].clone(), field: a[1].clone(), val: a[2].clone() }), "Sets a hash field if absent"),
    spec!("hget", 3, R, KEY1, "hash", |a| Ok(DataCmd::HGet { key: a[0].clone(), field: a[1].clone() }), "A hash field"),
    spec!("hmget", -3, R, KEY1, "hash", |a| Ok(DataCmd::HMGet { key: a[0].clone(), fields: a[1..].to_vec() }), "Several hash fields"),
    spec!("hdel", -3, W, KEY1, "hash", |a| Ok(DataCmd::HDel { key: a[0].clone(), fields: a[1..].to_vec() }), "Deletes hash fields"),
    spec!("hexists", 3, R, KEY1, "hash", |a| Ok(DataCmd::HExists { key: a[0].clone(), field: a[1].clone() }), "Whether a hash field exists"),
    spec!("hincrby", 4, W, KEY1, "hash", |a| Ok(DataCmd::HIncrBy { key: a[0].clone(), field: a[1].clone(), by: int(&a[2])? }), "Adds an integer to a hash field"),
    spec!("hincrbyfloat", 4, W, KEY1, "hash", hincrbyfloat, "Adds a float to a hash field"),
    spec!("hgetall", 2, R, KEY1, "hash", |a| Ok(DataCmd::HGetAll(a[0].clone())), "All fields and values"),
    spec!("hlen", 2, R, KEY1, "hash", |a| Ok(DataCmd::HLen(a[0].clone())), "Number of fields"),
    spec!("hkeys", 2, R, KEY1, "hash", |a| Ok(DataCmd::HKeys(a[0].clone())), "All fields"),
    spec!("hvals", 2, R, KEY1, "hash", |a| Ok(DataCmd::HVals(a[0].clone())), "All values"),
    spec!("lpush", -3, W, KEY1, "list", |a| push(a, true, false), "Prepends"),
    spec!("rpush", -3, W, KEY1, "list", |a| push(a, false, false), "Appends"),
    spec!("lpushx", -3, W, KEY1, "list", |a| push(a, true, true), "Prepends to an existing list"),
    spec!("rpushx", -3, W, KEY1, "list", |a| push(a, false, true), "Appends to an existing list"),
    spec!("lpop", -2, W, KEY1, "list", |a| pop(a, true), "Removes from the head"),
    spec!("rpop", -2, W, KEY1, "list", |a| pop(a, false), "Removes from the tail"),
    spec!("llen", 2, R, KEY1, "list", |a| Ok(DataCmd::LLen(a[0].clone())), "A list's length"),
    spec!("lrange", 4, R, KEY1, "list", |a| Ok(DataCmd::LRange { key: a[0].clone(), start: int(&a[1])?, stop: int(&a[2])? }), "A range of elements"),
    spec!("lindex", 3, R, KEY1, "list", |a| Ok(DataCmd::LIndex { key: a[0].clone(), index: int(&a[1])? }), "One element"),
    spec!("ltrim", 4, W, KEY1, "list", |a| Ok(DataCmd::LTrim { key: a[0].clone(), start: int(&a[1])?, stop: int(&a[2])? }), "Keeps a range"),
    spec!("lrem", 4, W, KEY1, "list", |a| Ok(DataCmd::LRem { key: a[0].clone(), count: int(&a[1])?, val: a[2].clone() }), "Removes elements equal to a value"),
    spec!("zadd", -4, W, KEY1, "sorted-set", zadd, "Adds members with scores"),
    spec!("zrem", -3, W, KEY1, "sorted-set", |a| Ok(DataCmd::ZRem { key: a[0].clone(), members: a[1..].to_vec() }), "Removes members"),
    spec!("zcard", 2, R, KEY1, "sorted-set", |a| Ok(DataCmd::ZCard(a[0].clone())), "Number of members"),
    spec!("zcount", 4, R, KEY1, "sorted-set", |a| { let (min, max) = bounds(&a[1], &a[2])?; Ok(DataCmd::ZCount { key: a[0].clone(), min, max, }) }, "Members within a score range"),
    spec!("zscore", 3, R, KEY1, "sorted-set", |a| Ok(DataCmd::ZScore { key: a[0].clone(), member: a[1].clone() }), "A member's score"),
    spec!("zincrby", 4, W, KEY1, "sorted-set", zincrby, "Adds to a member's score"),
    spec!("zrange", -4, R, KEY1, "sorted-set", zrange, "A range of members"),
    spec!("zrangebyscore", -4, R, KEY1, "sorted-set", |a| zrange_by_score(a, false), "Members by score"),
    spec!("zrevrangebyscore", -4, R, KEY1, "sorted-set", |a| zrange_by_score(a, true), "Members by score, descending"),
    spec!("zrevrange", -4, R, KEY1, "sorted-set", zrevrange, "Members by rank, descending"),
    spec!("zremrangebyscore", 4, W, KEY1, "sorted-set", |a| { let (min, max) = bounds(&a[1], &a[2])?; Ok(DataCmd::ZRemRangeByScore { key: a[0].clone(), min, max, }) }, "Removes members by score"),
    spec!("zremrangebyrank", 4, W, KEY1, "sorted-set", |a| Ok(DataCmd::ZRemRangeByRank { key: a[0].clone(), start: int(&a[1])?, stop: int(&a[2])? }), "Removes members by rank"),
    spec!("eval", -3, W, NOKEY, "scripting", |a| eval(a, false, false), "Runs a Lua script"),
    spec!("evalsha", -3, W, NOKEY, "scripting", |a| eval(a, true, false), "Runs a cached Lua script"),
    spec!("eval_ro", -3, R, NOKEY, "scripting", |a| eval(a, false, true), "Runs a read-only Lua script"),
    spec!("evalsha_ro", -3, R, NOKEY, "scripting", |a| eval(a, true, true), "Runs a cached read-only Lua script"),
    spec!("script", -2, W, NOKEY, "scripting", script, "Script cache: LOAD, EXISTS, FLUSH"),
];

/// The table entry for a command name, any case.
pub fn lookup(name: &[u8]) -> Option<&'static DataSpec> {
    DATA_COMMANDS
        .iter()
        .find(|s| s.name.len() == name.len() && s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Whether `n` arguments (name included) satisfy Redis arity `arity`.
pub fn arity_ok(arity: i64, n: usize) -> bool {
    let n = n as i64;
    if arity >= 0 {
        n == arity
    } else {
        n >= -arity
    }
}

/// Parses `name args...` into a command (arity checked here).
pub fn parse(spec: &DataSpec, args: &[Bytes]) -> P {
    if !arity_ok(spec.arity, args.len() + 1) {
        return Err(arity_err(spec.name));
    }
    (spec.parse)(args)
}

fn expire_cmd(a: &[Bytes], unit: i64, absolute: bool, name: &str) -> P {
    let n = int(&a[1])?;
    let mut cond = ExpireCond::Always;
    for opt in &a[2..] {
        let c = match kw(opt).as_str() {
            "NX" => ExpireCond::Nx,
            "XX" => ExpireCond::Xx,
            "GT" => ExpireCond::Gt,
            "LT" => ExpireCond::Lt,
            other => return Err(format!("ERR Unsupported option {}", other)),
        };
        cond = match (cond, c) {
            (ExpireCond::Always, c) => c,
            (a, b) if a == b => a,
            (ExpireCond::Gt, ExpireCond::Lt) | (ExpireCond::Lt, ExpireCond::Gt) => {
                return Err("ERR GT and LT options at the same time are not compatible".into())
            }
            _ => return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into()),
        };
    }
    let ms = n.checked_mul(unit).ok_or_else(|| expire_err(name))?;
    let at = if absolute { Expiry::AtMs(ms) } else { Expiry::InMs(ms) };
    Ok(DataCmd::Expire {
        key: a[0].clone(),
        at,
        cond,
    })
}

fn scan(a: &[Bytes]) -> P {
    let cursor = std::str::from_utf8(&a[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| "ERR invalid cursor".to_string())?;
    let (mut pattern, mut count, mut kind) = (None, 10u64, None);
    let mut rest = &a[1..];
    while let Some(opt) = rest.first() {
        let Some(v) = rest.get(1) else {
            return Err(SYNTAX.into());
        };
        match kw(opt).as_str() {
            "MATCH" => pattern = Some(v.clone()),
            "COUNT" => {
                let c = int(v)?;
                if c < 1 {
                    return Err(SYNTAX.into());
                }
                count = c as u64;
            }
            "TYPE" => kind = Some(v.clone()),
            _ => return Err(SYNTAX.into()),
        }
        rest = &rest[2..];
    }
    Ok(DataCmd::Scan {
        cursor,
        pattern,
        count,
        kind,
    })
}

fn set(a: &[Bytes]) -> P {
    let (mut cond, mut get, mut ttl) = (SetCond::Always, false, TtlChange::Clear);
    let mut ttl_given = false;
    let mut i = 2;
    while i < a.len() {
        let o = kw(&a[i]);
        match o.as_str() {
            "NX" if cond != SetCond::IfPresent => cond = SetCond::IfAbsent,
            "XX" if cond != SetCond::IfAbsent => cond = SetCond::IfPresent,
            "GET" => get = true,
            "KEEPTTL" if !ttl_given => {
                ttl = TtlChange::Keep;
                ttl_given = true;
            }
            "EX" | "PX" | "EXAT" | "PXAT" if !ttl_given && i + 1 < a.len() => {
                ttl = TtlChange::Expire(expiry(&o, &a[i + 1], "set")?);
                ttl_given = true;
                i += 1;
            }
            _ => return Err(SYNTAX.into()),
        }
        i += 1;
    }
    Ok(DataCmd::Set {
        key: a[0].clone(),
        val: a[1].clone(),
        cond,
        get,
        ttl,
    })
}

fn setex(a: &[Bytes], unit: &str, name: &str) -> P {
    let e = expiry(unit, &a[1], name)?;
    Ok(DataCmd::Set {
        key: a[0].clone(),
        val: a[2].clone(),
        cond: SetCond::Always,
        get: false,
        ttl: TtlChange::Expire(e),
    })
}

fn getex(a: &[Bytes]) -> P {
    let ttl = match &a[1..] {
        [] => None,
        [p] if kw(p) == "PERSIST" => Some(TtlChange::Clear),
        [o, v] if matches!(kw(o).as_str(), "EX" | "PX" | "EXAT" | "PXAT") => {
            Some(TtlChange::Expire(expiry(&kw(o), v, "getex")?))
        }
        _ => return Err(SYNTAX.into()),
    };
    Ok(DataCmd::GetEx { key: a[0].clone(), ttl })
}

fn mset(a: &[Bytes]) -> P {
    if !a.len().is_multiple_of(2) {
        return Err(arity_err("mset"));
    }
    Ok(DataCmd::MSet(
        a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
    ))
}

fn decrby(a: &[Bytes]) -> P {
    let n = int(&a[1])?;
    let by = n
        .checked_neg()
        .ok_or_else(|| "ERR decrement would overflow".to_string())?;
    Ok(DataCmd::IncrBy { key: a[0].clone(), by })
}

fn incrbyfloat(a: &[Bytes]) -> P {
    // Redis checks the key's type and value before the increment: an unreadable
    // increment travels as NaN (never a valid float) and is refused in that order.
    let by = float(&a[1]).unwrap_or(f64::NAN);
    Ok(DataCmd::IncrByFloat {
        key: a[0].clone(),
        by: F64(by),
    })
}

fn hset(a: &[Bytes], ok_reply: bool, name: &str) -> P {
    let fv = &a[1..];
    if !fv.len().is_multiple_of(2) {
        return Err(arity_err(name));
    }
    let pairs = fv.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    Ok(DataCmd::HSet {
        key: a[0].clone(),
        pairs,
        ok_reply,
    })
}

fn hincrbyfloat(a: &[Bytes]) -> P {
    let by = float(&a[2]).ok_or_else(|| NOT_FLOAT.to_string())?;
    if by.is_infinite() {
        return Err("ERR value is NaN or Infinity".into());
    }
    Ok(DataCmd::HIncrByFloat {
        key: a[0].clone(),
        field: a[1].clone(),
        by: F64(by),
    })
}

fn push(a: &[Bytes], left: bool, only_existing: bool) -> P {
    Ok(DataCmd::Push {
        key: a[0].clone(),
        vals: a[1..].to_vec(),
        left,
        only_existing,
    })
}

fn pop(a: &[Bytes], left: bool) -> P {
    let count = match &a[1..] {
        [] => None,
        [c] => {
            let n = int(c).map_err(|_| "ERR value is out of range, must be positive".to_string())?;
            if n < 0 {
                return Err("ERR value is out of range, must be positive".into());
            }
            Some(n as u64)
        }
        _ => return Err(arity_err(if left { "lpop" } else { "rpop" })),
    };
    Ok(DataCmd::Pop {
        key: a[0].clone(),
        left,
        count,
    })
}

/// A ZCOUNT / ZRANGEBYSCORE bound.
fn bound(b: &[u8]) -> Option<ScoreBound> {
    let (exclusive, num) = match b.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, b),
    };
    Some(ScoreBound {
        val: F64(float(num)?),
        exclusive,
    })
}

fn bounds(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), ParseError> {
    match (bound(min), bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err("ERR min or max is not a float".into()),
    }
}

fn zadd(a: &[Bytes]) -> P {
    let mut f = ZaddFlags::default();
    let mut i = 1;
    while i < a.len() {
        match kw(&a[i]).as_str() {
            "NX" => f.nx = true,
            "XX" => f.xx = true,
            "GT" => f.gt = true,
            "LT" => f.lt = true,
            "CH" => f.ch = true,
            "INCR" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &a[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(SYNTAX.into());
    }
    if f.nx && f.xx {
        return Err("ERR XX and NX options at the same time are not compatible".into());
    }
    if (f.gt && f.lt) || (f.nx && (f.gt || f.lt)) {
        return Err("ERR GT, LT, and/or NX options at the same time are not compatible".into());
    }
    if f.incr && rest.len() > 2 {
        return Err("ERR INCR option supports a single increment-element pair".into());
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks(2) {
        let s = float(&p[0]).ok_or_else(|| NOT_FLOAT.to_string())?;
        pairs.push((F64(s), p[1].clone()));
    }
    Ok(DataCmd::ZAdd {
        key: a[0].clone(),
        flags: f,
        pairs,
    })
}

fn zincrby(a: &[Bytes]) -> P {
    let by = float(&a[1]).ok_or_else(|| NOT_FLOAT.to_string())?;
    Ok(DataCmd::ZIncrBy {
        key: a[0].clone(),
        by: F64(by),
        member: a[2].clone(),
    })
}

/// LIMIT offset count and WITHSCORES after a range.
fn range_opts(opts: &[Bytes], allow_limit: bool) -> Result<(Option<(i64, i64)>, bool), ParseError> {
    let (mut limit, mut withscores) = (None, false);
    let mut i = 0;
    while i < opts.len() {
        match kw(&opts[i]).as_str() {
            "WITHSCORES" => withscores = true,
            "LIMIT" if allow_limit && i + 2 < opts.len() => {
                limit = Some((int(&opts[i + 1])?, int(&opts[i + 2])?));
                i += 2;
            }
            _ => return Err(SYNTAX.into()),
        }
        i += 1;
    }
    Ok((limit, withscores))
}

fn zrange(a: &[Bytes]) -> P {
    let (mut byscore, mut rev, mut limit, mut withscores) = (false, false, None, false);
    let mut i = 3;
    while i < a.len() {
        match kw(&a[i]).as_str() {
            "BYSCORE" => byscore = true,
            "BYLEX" => return Err("ERR BYLEX is not supported by fencepost".into()),
            "REV" => rev = true,
            "WITHSCORES" => withscores = true,
            "LIMIT" if i + 2 < a.len() => {
                limit = Some((int(&a[i + 1])?, int(&a[i + 2])?));
                i += 2;
            }
            _ => return Err(SYNTAX.into()),
        }
        i += 1;
    }
    if limit.is_some() && !byscore {
        return Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX".into());
    }
    let by = if byscore {
        // With REV the bounds come max first, as in ZREVRANGEBYSCORE.
        let (lo, hi) = if rev { (&a[2], &a[1]) } else { (&a[1], &a[2]) };
        let (min, max) = bounds(lo, hi)?;
        ZrangeBy::Score { min, max }
    } else {
        ZrangeBy::Rank {
            start: int(&a[1])?,
            stop: int(&a[2])?,
        }
    };
    Ok(DataCmd::ZRange {
        key: a[0].clone(),
        by,
        rev,
        limit,
        withscores,
    })
}

fn zrange_by_score(a: &[Bytes], rev: bool) -> P {
    let (lo, hi) = if rev { (&a[2], &a[1]) } else { (&a[1], &a[2]) };
    let (min, max) = bounds(lo, hi)?;
    let (limit, withscores) = range_opts(&a[3..], true)?;
    Ok(DataCmd::ZRange {
        key: a[0].clone(),
        by: ZrangeBy::Score { min, max },
        rev,
        limit,
        withscores,
    })
}

fn zrevrange(a: &[Bytes]) -> P {
    let (limit, withscores) = range_opts(&a[3..], false)?;
    let by = ZrangeBy::Rank {
        start: int(&a[1])?,
        stop: int(&a[2])?,
    };
    Ok(DataCmd::ZRange {
        key: a[0].clone(),
        by,
        rev: true,
        limit,
        withscores,
    })
}

fn eval(a: &[Bytes], sha: bool, read_only: bool) -> P {
    let numkeys = int(&a[1])?;
    if numkeys < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    let rest = &a[2..];
    if numkeys as u64 > rest.len() as u64 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    let (keys, args) = rest.split_at(numkeys as usize);
    let script = if sha {
        ScriptRef::Sha(Bytes::copy_from_slice(&a[0].to_ascii_lowercase()))
    } else {
        ScriptRef::Body(a[0].clone())
    };
    Ok(DataCmd::Eval {
        script,
        keys: keys.to_vec(),
        args: args.to_vec(),
        read_only,
    })
}

fn script(a: &[Bytes]) -> P {
    match (kw(&a[0]).as_str(), &a[1..]) {
        ("LOAD", [body]) => Ok(DataCmd::ScriptLoad(body.clone())),
        ("EXISTS", shas) if !shas.is_empty() => Ok(DataCmd::ScriptExists(shas.to_vec())),
        ("FLUSH", []) => Ok(DataCmd::ScriptFlush),
        ("FLUSH", [m]) if matches!(kw(m).as_str(), "SYNC" | "ASYNC") => Ok(DataCmd::ScriptFlush),
        ("LOAD" | "EXISTS" | "FLUSH", _) => Err(format!(
            "ERR wrong number of arguments for 'script|{}' command",
            kw(&a[0]).to_lowercase()
        )),
        (other, _) => Err(format!(
            "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(other.as_bytes())
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> P {
        let v: Vec<Bytes> = args.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        let spec = lookup(v[0].as_ref()).ok_or("unknown")?;
        parse(spec, &v[1..])
    }

    #[test]
    fn set_options() {
        let c = p(&["SET", "k", "v", "NX", "PX", "100", "GET"]).unwrap();
        assert_eq!(
            c,
            DataCmd::Set {
                key: "k".into(),
                val: "v".into(),
                cond: SetCond::IfAbsent,
                get: true,
                ttl: TtlChange::Expire(Expiry::InMs(100))
            }
        );
        assert_eq!(p(&["set", "k", "v", "NX", "XX"]).unwrap_err(), SYNTAX);
        assert_eq!(
            p(&["set", "k", "v", "EX", "0"]).unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(p(&["set", "k", "v", "EX", "x"]).unwrap_err(), NOT_INT);
        assert_eq!(p(&["set", "k", "v", "EX", "1", "PX", "1"]).unwrap_err(), SYNTAX);
        assert_eq!(
            p(&["set", "k"]).unwrap_err(),
            "ERR wrong number of arguments for 'set' command"
        );
        assert!(matches!(
            p(&["SET", "k", "v", "EXAT", "5"]).unwrap(),
            DataCmd::Set {
                ttl: TtlChange::Expire(Expiry::AtMs(5000)),
                ..
            }
        ));
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(strict_int(b"12"), Some(12));
        assert_eq!(strict_int(b"-3"), Some(-3));
        for bad in ["+1", "01", " 1", "1.0", "", "-", "99999999999999999999"] {
            assert_eq!(strict_int(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(float(b"nan"), None);
        assert_eq!(float(b"-inf"), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn expire_options_and_eval_keys() {
        assert_eq!(
            p(&["expire", "k", "10", "nx", "xx"]).unwrap_err(),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert!(matches!(
            p(&["pexpire", "k", "10", "GT"]).unwrap(),
            DataCmd::Expire {
                cond: ExpireCond::Gt,
                ..
            }
        ));
        let c = p(&["EVALSHA", "ABC", "1", "k", "a"]).unwrap();
        assert_eq!(
            c,
            DataCmd::Eval {
                script: ScriptRef::Sha("abc".into()),
                keys: vec!["k".into()],
                args: vec!["a".into()],
                read_only: false
            }
        );
        assert_eq!(
            p(&["eval", "x", "2", "k"]).unwrap_err(),
            "ERR Number of keys can't be greater than number of args"
        );
    }

    #[test]
    fn zset_options() {
        assert_eq!(
            p(&["zadd", "z", "nx", "gt", "1", "a"]).unwrap_err(),
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        );
        assert_eq!(p(&["zadd", "z", "x", "a"]).unwrap_err(), NOT_FLOAT);
        assert_eq!(
            p(&["zcount", "z", "a", "1"]).unwrap_err(),
            "ERR min or max is not a float"
        );
        assert!(matches!(
            p(&["zrangebyscore", "z", "(1", "+inf", "LIMIT", "0", "2", "WITHSCORES"]).unwrap(),
            DataCmd::ZRange {
                limit: Some((0, 2)),
                withscores: true,
                rev: false,
                ..
            }
        ));
    }
}
