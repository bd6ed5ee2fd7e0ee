//! Hashes: HSET/HMSET, HSETNX, HGET, HMGET, HDEL, HEXISTS, HINCRBY(FLOAT), HGETALL,
//! HLEN, HKEYS, HVALS. Fields come back in field order (Redis's small hashes keep
//! insertion order; fencepost's order is the same on every replica).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::super::ctx::Ctx;
use super::super::keyspace::Keyspace;
use super::super::rval::{fmt_double, RVal};
use super::super::types::Millis;
use super::parse::{float, strict_int};
use super::{get as get_data, put, take_kind, wrongtype, Data, Val};

fn hash_of(d: &Data) -> Option<&BTreeMap<Bytes, Bytes>> {
    match &d.val {
        Val::Hash(h) => Some(&**h),
        _ => None,
    }
}

/// Reads the hash under `key` (`Ok(None)` if absent).
fn read<'a>(ks: &'a Keyspace, now: Millis, key: &[u8]) -> Result<Option<&'a BTreeMap<Bytes, Bytes>>, RVal> {
    match get_data(ks, now, key)? {
        None => Ok(None),
        Some(d) => hash_of(d).map(Some).ok_or_else(wrongtype),
    }
}

/// Runs `f` on the hash under `key` (created empty if absent) and stores the result.
fn modify(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut BTreeMap<Bytes, Bytes>) -> RVal,
) -> RVal {
    let mut d = match take_kind!(ks, cx, key, Hash) {
        Err(e) => return e,
        Ok(Some(d)) => d,
        Ok(None) => Data::new(Val::Hash(Box::default())),
    };
    let reply = match &mut d.val {
        Val::Hash(h) => f(h),
        _ => wrongtype(),
    };
    put(ks, cx, key, d);
    reply
}

fn copy(b: &Bytes) -> Bytes {
    // Out of the request buffer: a slice would pin the whole buffer in the keyspace.
    Bytes::copy_from_slice(b)
}

pub fn hset(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], pairs: &[(Bytes, Bytes)], ok_reply: bool) -> RVal {
    modify(ks, cx, key, |h| {
        let added = pairs
            .iter()
            .filter(|(f, v)| h.insert(copy(f), copy(v)).is_none())
            .count();
        if ok_reply {
            RVal::Ok
        } else {
            RVal::Int(added as i64)
        }
    })
}

pub fn hsetnx(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], field: &Bytes, val: &Bytes) -> RVal {
    modify(ks, cx, key, |h| {
        if h.contains_key(field) {
            RVal::Int(0)
        } else {
            h.insert(copy(field), copy(val));
            RVal::Int(1)
        }
    })
}

pub fn hdel(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], fields: &[Bytes]) -> RVal {
    modify(ks, cx, key, |h| {
        RVal::Int(fields.iter().filter(|f| h.remove(f.as_ref()).is_some()).count() as i64)
    })
}

pub fn hincrby(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], field: &Bytes, by: i64) -> RVal {
    modify(ks, cx, key, |h| {
        let cur = match h.get(field) {
            None => 0,
            Some(v) => match strict_int(v) {
                Some(n) => n,
                None => return RVal::err("ERR hash value is not an integer"),
            },
        };
        match cur.checked_add(by) {
            None => RVal::err("ERR increment or decrement would overflow"),
            Some(n) => {
                h.insert(copy(field), Bytes::from(n.to_string()));
                RVal::Int(n)
            }
        }
    })
}

pub fn hincrbyfloat(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], field: &Bytes, by: f64) -> RVal {
    modify(ks, cx, key, |h| {
        let cur = match h.get(field) {
            None => 0.0,
            Some(v) => match float(v) {
                Some(n) => n,
                None => return RVal::err("ERR hash value is not a float"),
            },
        };
        let n = cur + by;
        if !n.is_finite() {
            return RVal::err("ERR increment would produce NaN or Infinity");
        }
        let text = Bytes::from(fmt_double(n));
        h.insert(copy(field), text.clone());
        RVal::Bulk(text)
    })
}

pub fn hget(ks: &Keyspace, now: Millis, key: &[u8], field: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(h) => h
            .and_then(|h| h.get(field))
            .map_or(RVal::Nil, |v| RVal::Bulk(v.clone())),
    }
}

pub fn hmget(ks: &Keyspace, now: Millis, key: &[u8], fields: &[Bytes]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(h) => RVal::Array(
            fields
                .iter()
                .map(|f| h.and_then(|h| h.get(f)).map_or(RVal::Nil, |v| RVal::Bulk(v.clone())))
                .collect(),
        ),
    }
}

pub fn hexists(ks: &Keyspace, now: Millis, key: &[u8], field: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(h) => RVal::Int(h.is_some_and(|h| h.contains_key(field)) as i64),
    }
}

pub fn hgetall(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(h) => RVal::Map(
            h.into_iter()
                .flatten()
                .map(|(f, v)| (RVal::Bulk(f.clone()), RVal::Bulk(v.clone())))
                .collect(),
        ),
    }
}

pub fn hlen(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(h) => RVal::Int(h.map_or(0, |h| h.len()) as i64),
    }
}

/// HKEYS (`fields`) or HVALS.
pub fn hkeys(ks: &Keyspace, now: Millis, key: &[u8], fields: bool) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(h) => RVal::Array(
            h.into_iter()
                .flatten()
                .map(|(f, v)| RVal::Bulk(if fields { f.clone() } else { v.clone() }))
                .collect(),
        ),
    }
}
