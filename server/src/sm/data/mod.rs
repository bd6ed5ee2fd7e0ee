//! Redis data commands on the shared keyspace: strings, hashes, lists, sorted sets and
//! the generic key commands. `exec` runs a command inside an entry (writes), `read` runs
//! one after ReadIndex against a shared borrow. Both are pure: time is the entry's stamp
//! (or the leader's read stamp), nothing iterates a hashed collection.

pub mod cmd;
pub mod glob;
mod hashes;
mod keys;
mod lists;
pub mod parse;
mod strings;
pub(crate) mod value;
mod zsets;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::object::Object;
use super::rval::RVal;
use super::types::Millis;
use super::WrongType;
use cmd::{DataCmd, Expiry};
pub(crate) use value::{Data, Val};

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Largest string a value may grow to (APPEND, INCRBYFLOAT), as in Redis.
pub const MAX_STRING: usize = 512 * 1024 * 1024;

pub(crate) fn wrongtype() -> RVal {
    RVal::err(WRONGTYPE)
}

/// Runs a command inside a log entry (reads run on the entry's state too).
pub(crate) fn exec(ks: &mut Keyspace, cx: &mut Ctx<'_>, c: &DataCmd) -> RVal {
    use DataCmd::*;
    match c {
        Del(keys) => keys::del(ks, cx, keys),
        Expire { key, at, cond } => keys::expire(ks, cx, key, *at, *cond),
        Persist(key) => keys::persist(ks, cx, key),
        Rename { src, dst, nx } => keys::rename(ks, cx, src, dst, *nx),
        Set {
            key,
            val,
            cond,
            get,
            ttl,
        } => strings::set(ks, cx, key, val, *cond, *get, *ttl),
        SetNx { key, val } => strings::setnx(ks, cx, key, val),
        GetDel(key) => strings::getdel(ks, cx, key),
        GetEx { key, ttl } => strings::getex(ks, cx, key, *ttl),
        MSet(pairs) => strings::mset(ks, cx, pairs),
        IncrBy { key, by } => strings::incrby(ks, cx, key, *by),
        IncrByFloat { key, by } => strings::incrbyfloat(ks, cx, key, by.0),
        Append { key, val } => strings::append(ks, cx, key, val),
        HSet { key, pairs, ok_reply } => hashes::hset(ks, cx, key, pairs, *ok_reply),
        HSetNx { key, field, val } => hashes::hsetnx(ks, cx, key, field, val),
        HDel { key, fields } => hashes::hdel(ks, cx, key, fields),
        HIncrBy { key, field, by } => hashes::hincrby(ks, cx, key, field, *by),
        HIncrByFloat { key, field, by } => hashes::hincrbyfloat(ks, cx, key, field, by.0),
        Push {
            key,
            vals,
            left,
            only_existing,
        } => lists::push(ks, cx, key, vals, *left, *only_existing),
        Pop { key, left, count } => lists::pop(ks, cx, key, *left, *count),
        LTrim { key, start, stop } => lists::ltrim(ks, cx, key, *start, *stop),
        LRem { key, count, val } => lists::lrem(ks, cx, key, *count, val),
        ZAdd { key, flags, pairs } => zsets::zadd(ks, cx, key, *flags, pairs),
        ZRem { key, members } => zsets::zrem(ks, cx, key, members),
        ZIncrBy { key, by, member } => zsets::zincrby(ks, cx, key, by.0, member),
        ZRemRangeByScore { key, min, max } => zsets::zremrangebyscore(ks, cx, key, *min, *max),
        ZRemRangeByRank { key, start, stop } => zsets::zremrangebyrank(ks, cx, key, *start, *stop),
        Eval { .. } | ScriptLoad(_) | ScriptExists(_) | ScriptFlush => {
            RVal::err("ERR This Redis command is not allowed from script")
        }
        read_only => read(ks, cx.now, read_only),
    }
}

/// Runs a read-only command at `now`. A write command here is a caller's bug, answered
/// as an error rather than a panic.
pub(crate) fn read(ks: &Keyspace, now: Millis, c: &DataCmd) -> RVal {
    use DataCmd::*;
    match c {
        Exists(keys) => keys::exists(ks, now, keys),
        Type(key) => keys::type_of(ks, now, key),
        Ttl { key, ms } => keys::ttl(ks, now, key, *ms),
        Keys(pattern) => keys::keys(ks, now, pattern),
        Scan {
            cursor,
            pattern,
            count,
            kind,
        } => keys::scan(ks, now, *cursor, pattern.as_deref(), *count, kind.as_deref()),
        Time => RVal::Array(vec![
            RVal::Bulk(Bytes::from((now / 1000).to_string())),
            RVal::Bulk(Bytes::from((now % 1000 * 1000).to_string())),
        ]),
        Get(key) => strings::get(ks, now, key),
        MGet(keys) => strings::mget(ks, now, keys),
        Strlen(key) => strings::strlen(ks, now, key),
        HGet { key, field } => hashes::hget(ks, now, key, field),
        HMGet { key, fields } => hashes::hmget(ks, now, key, fields),
        HExists { key, field } => hashes::hexists(ks, now, key, field),
        HGetAll(key) => hashes::hgetall(ks, now, key),
        HLen(key) => hashes::hlen(ks, now, key),
        HKeys(key) => hashes::hkeys(ks, now, key, true),
        HVals(key) => hashes::hkeys(ks, now, key, false),
        LLen(key) => lists::llen(ks, now, key),
        LRange { key, start, stop } => lists::lrange(ks, now, key, *start, *stop),
        LIndex { key, index } => lists::lindex(ks, now, key, *index),
        ZCard(key) => zsets::zcard(ks, now, key),
        ZCount { key, min, max } => zsets::zcount(ks, now, key, *min, *max),
        ZScore { key, member } => zsets::zscore(ks, now, key, member),
        ZRange {
            key,
            by,
            rev,
            limit,
            withscores,
        } => zsets::zrange(ks, now, key, *by, *rev, *limit, *withscores),
        other => RVal::err(format!("ERR internal: {other:?} is not a read")),
    }
}

/// The live data object under `key`: `Err` for another kind of object.
pub(crate) fn get<'a>(ks: &'a Keyspace, now: Millis, key: &[u8]) -> Result<Option<&'a Data>, RVal> {
    ks.read::<Data>(key, now).map_err(|WrongType| wrongtype())
}

/// Takes the live data object under `key` out of the keyspace (put it back with
/// [`put`]); an object of another kind stays and answers WRONGTYPE.
pub(crate) fn take(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Data>, RVal> {
    ks.take::<Data>(key, cx).map_err(|WrongType| wrongtype())
}

/// Stores `d` under `key`, unless it is an empty collection or already expired (Redis
/// deletes both).
pub(crate) fn put(ks: &mut Keyspace, cx: &Ctx<'_>, key: &[u8], d: Data) {
    if d.is_empty_collection() || !d.is_live(cx.now) {
        return;
    }
    ks.put(key, Object::Data(d));
}

/// The instant an expiry names, on the cluster clock.
pub(crate) fn deadline(now: Millis, e: Expiry) -> Millis {
    match e {
        Expiry::InMs(ms) if ms <= 0 => now,
        Expiry::InMs(ms) => now.saturating_add(ms as u64),
        Expiry::AtMs(at) => u64::try_from(at).unwrap_or(0),
    }
}

/// The collection of kind `V` under `key`, taken out, or WRONGTYPE for any other kind
/// (the object is put back untouched).
macro_rules! take_kind {
    ($ks:expr, $cx:expr, $key:expr, $variant:ident) => {
        match $crate::sm::data::take($ks, $cx, $key) {
            Err(e) => Err(e),
            Ok(None) => Ok(None),
            Ok(Some(d)) => {
                if matches!(d.val, $crate::sm::data::Val::$variant(_)) {
                    Ok(Some(d))
                } else {
                    $crate::sm::data::put($ks, $cx, $key, d);
                    Err($crate::sm::data::wrongtype())
                }
            }
        }
    };
}
pub(crate) use take_kind;
