//! Strings: GET, SET and its variants, MGET/MSET, INCR family, APPEND, STRLEN.

use bytes::Bytes;

use super::super::ctx::Ctx;
use super::super::keyspace::Keyspace;
use super::super::object::Object;
use super::super::rval::{fmt_double, RVal};
use super::super::small_bytes::SmallBytes;
use super::super::types::Millis;
use super::cmd::{SetCond, TtlChange};
use super::parse::{float, strict_int};
use super::{deadline, get as get_data, put, take, wrongtype, Data, Val, MAX_STRING};
use crate::mutation::{self, Mutation};

fn str_of(d: &Data) -> Option<&[u8]> {
    match &d.val {
        Val::Str(s) => Some(s.as_slice()),
        _ => None,
    }
}

fn string(v: &[u8], expires_at: Option<Millis>) -> Data {
    Data::with_expiry(Val::Str(SmallBytes::from(v)), expires_at)
}

pub fn get(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    match get_data(ks, now, key) {
        Err(e) => e,
        Ok(None) => RVal::Nil,
        Ok(Some(d)) => str_of(d).map_or_else(wrongtype, RVal::bulk),
    }
}

fn new_expiry(now: Millis, ttl: TtlChange, old: Option<Millis>) -> Option<Millis> {
    match ttl {
        TtlChange::Clear => None,
        TtlChange::Keep => old,
        TtlChange::Expire(e) => Some(deadline(now, e)),
    }
}

pub fn set(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &[u8],
    val: &[u8],
    cond: SetCond,
    get: bool,
    ttl: TtlChange,
) -> RVal {
    let old = match take(ks, cx, key) {
        Err(e) => return e,
        Ok(old) => old,
    };
    let old_val = match &old {
        Some(d) if get && str_of(d).is_none() => {
            put(ks, cx, key, d.clone());
            return wrongtype();
        }
        Some(d) => str_of(d).map(Bytes::copy_from_slice),
        None => None,
    };
    let go = match cond {
        SetCond::Always => true,
        SetCond::IfAbsent => old.is_none(),
        SetCond::IfPresent => old.is_some(),
    };
    let reply = |done: bool| {
        if get {
            old_val.clone().map_or(RVal::Nil, RVal::Bulk)
        } else if done {
            RVal::Ok
        } else {
            RVal::Nil
        }
    };
    if !go {
        if let Some(d) = old {
            put(ks, cx, key, d);
        }
        return reply(false);
    }
    let mut at = new_expiry(cx.now, ttl, old.and_then(|d| d.expires_at()));
    // The deliberate bug `set-nx-short` records a quarter of SET NX's expiry: the next
    // SET NX succeeds while the client told PX still holds the Redis-style lock.
    if cond == SetCond::IfAbsent && mutation::active(Mutation::SetNxShortExpiry) {
        let now = cx.now;
        at = at.map(|t| now + t.saturating_sub(now) / 4);
    }
    put(ks, cx, key, string(val, at));
    reply(true)
}

pub fn setnx(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], val: &[u8]) -> RVal {
    match set(ks, cx, key, val, SetCond::IfAbsent, false, TtlChange::Clear) {
        RVal::Ok => RVal::Int(1),
        RVal::Nil => RVal::Int(0),
        other => other,
    }
}

pub fn getdel(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8]) -> RVal {
    match take(ks, cx, key) {
        Err(e) => e,
        Ok(None) => RVal::Nil,
        Ok(Some(d)) => match str_of(&d).map(RVal::bulk) {
            Some(v) => v,
            None => {
                put(ks, cx, key, d);
                wrongtype()
            }
        },
    }
}

pub fn getex(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], ttl: Option<TtlChange>) -> RVal {
    match take(ks, cx, key) {
        Err(e) => e,
        Ok(None) => RVal::Nil,
        Ok(Some(mut d)) => {
            let Some(v) = str_of(&d).map(RVal::bulk) else {
                put(ks, cx, key, d);
                return wrongtype();
            };
            if let Some(t) = ttl {
                d.set_expires_at(new_expiry(cx.now, t, d.expires_at()));
            }
            put(ks, cx, key, d);
            v
        }
    }
}

pub fn mget(ks: &Keyspace, now: Millis, keys: &[Bytes]) -> RVal {
    RVal::Array(
        keys.iter()
            .map(|k| match ks.get_live(k, now) {
                Some(Object::Data(d)) => RVal::opt_bulk(str_of(d)),
                _ => RVal::Nil,
            })
            .collect(),
    )
}

pub fn mset(ks: &mut Keyspace, cx: &mut Ctx<'_>, pairs: &[(Bytes, Bytes)]) -> RVal {
    if pairs
        .iter()
        .any(|(k, _)| ks.get_live(k, cx.now).is_some_and(|o| !matches!(o, Object::Data(_))))
    {
        return wrongtype();
    }
    for (k, v) in pairs {
        let _ = take(ks, cx, k);
        put(ks, cx, k, string(v, None));
    }
    RVal::Ok
}

/// Takes a string for a read-modify-write; absent reads as `None`.
fn take_str(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<Data>, RVal> {
    match take(ks, cx, key)? {
        Some(d) if str_of(&d).is_none() => {
            put(ks, cx, key, d);
            Err(wrongtype())
        }
        other => Ok(other),
    }
}

pub fn incrby(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], by: i64) -> RVal {
    let d = match take_str(ks, cx, key) {
        Err(e) => return e,
        Ok(d) => d,
    };
    let cur = match d.as_ref().and_then(str_of).map(strict_int) {
        None => Some(0),
        Some(v) => v,
    };
    let at = d.as_ref().and_then(|d| d.expires_at());
    let restore = |ks: &mut Keyspace, cx: &Ctx<'_>, d: Option<Data>| {
        if let Some(d) = d {
            put(ks, cx, key, d);
        }
    };
    let Some(cur) = cur else {
        restore(ks, cx, d);
        return RVal::err("ERR value is not an integer or out of range");
    };
    let Some(n) = cur.checked_add(by) else {
        restore(ks, cx, d);
        return RVal::err("ERR increment or decrement would overflow");
    };
    put(ks, cx, key, string(n.to_string().as_bytes(), at));
    RVal::Int(n)
}

pub fn incrbyfloat(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], by: f64) -> RVal {
    let d = match take_str(ks, cx, key) {
        Err(e) => return e,
        Ok(d) => d,
    };
    let cur = match d.as_ref().and_then(str_of) {
        None => Some(0.0),
        Some(v) => float(v),
    };
    let at = d.as_ref().and_then(|d| d.expires_at());
    let n = cur.map(|c| c + by);
    let err = match n {
        None => Some("ERR value is not a valid float"),
        Some(_) if by.is_nan() => Some("ERR value is not a valid float"),
        Some(n) if !n.is_finite() => Some("ERR increment would produce NaN or Infinity"),
        _ => None,
    };
    if let Some(e) = err {
        if let Some(d) = d {
            put(ks, cx, key, d);
        }
        return RVal::err(e);
    }
    let text = fmt_double(n.unwrap_or(0.0));
    put(ks, cx, key, string(text.as_bytes(), at));
    RVal::Bulk(Bytes::from(text))
}

pub fn append(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], val: &[u8]) -> RVal {
    let d = match take_str(ks, cx, key) {
        Err(e) => return e,
        Ok(d) => d,
    };
    let (mut cur, at) = match &d {
        Some(d) => (str_of(d).unwrap_or_default().to_vec(), d.expires_at()),
        None => (Vec::new(), None),
    };
    if cur.len() + val.len() > MAX_STRING {
        if let Some(d) = d {
            put(ks, cx, key, d);
        }
        return RVal::err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    cur.extend_from_slice(val);
    let n = cur.len() as i64;
    put(ks, cx, key, string(&cur, at));
    RVal::Int(n)
}

pub fn strlen(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    match get_data(ks, now, key) {
        Err(e) => e,
        Ok(None) => RVal::Int(0),
        Ok(Some(d)) => str_of(d).map_or_else(wrongtype, |s| RVal::Int(s.len() as i64)),
    }
}
