//! Lists: LPUSH/RPUSH(X), LPOP/RPOP [count], LLEN, LRANGE, LINDEX, LTRIM, LREM.

use std::collections::VecDeque;

use bytes::Bytes;

use super::super::ctx::Ctx;
use super::super::keyspace::Keyspace;
use super::super::rval::RVal;
use super::super::types::Millis;
use super::{get as get_data, put, take_kind, wrongtype, Data, Val};

fn read<'a>(ks: &'a Keyspace, now: Millis, key: &[u8]) -> Result<Option<&'a VecDeque<Bytes>>, RVal> {
    match get_data(ks, now, key)? {
        None => Ok(None),
        Some(d) => match &d.val {
            Val::List(l) => Ok(Some(&**l)),
            _ => Err(wrongtype()),
        },
    }
}

/// Runs `f` on an existing list (absent: `absent` is the reply) and stores the result.
fn modify(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &[u8],
    absent: RVal,
    f: impl FnOnce(&mut VecDeque<Bytes>) -> RVal,
) -> RVal {
    let mut d = match take_kind!(ks, cx, key, List) {
        Err(e) => return e,
        Ok(None) => return absent,
        Ok(Some(d)) => d,
    };
    let reply = match &mut d.val {
        Val::List(l) => f(l),
        _ => wrongtype(),
    };
    put(ks, cx, key, d);
    reply
}

/// Redis's index normalisation for a range of a sequence of `len`: `None` if empty.
pub(crate) fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    (start <= stop && start < len && stop >= 0).then_some((start as usize, stop as usize))
}

pub fn push(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], vals: &[Bytes], left: bool, only_existing: bool) -> RVal {
    let mut d = match take_kind!(ks, cx, key, List) {
        Err(e) => return e,
        Ok(None) if only_existing => return RVal::Int(0),
        Ok(None) => Data::new(Val::List(Box::default())),
        Ok(Some(d)) => d,
    };
    let n = match &mut d.val {
        Val::List(l) => {
            for v in vals {
                let v = Bytes::copy_from_slice(v);
                if left {
                    l.push_front(v)
                } else {
                    l.push_back(v)
                }
            }
            l.len()
        }
        _ => 0,
    };
    put(ks, cx, key, d);
    RVal::Int(n as i64)
}

pub fn pop(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], left: bool, count: Option<u64>) -> RVal {
    let absent = if count.is_some() { RVal::NilArray } else { RVal::Nil };
    modify(ks, cx, key, absent, |l| {
        let mut one = || if left { l.pop_front() } else { l.pop_back() };
        match count {
            None => one().map_or(RVal::Nil, RVal::Bulk),
            Some(n) => {
                let mut out = Vec::new();
                for _ in 0..n {
                    match one() {
                        Some(v) => out.push(RVal::Bulk(v)),
                        None => break,
                    }
                }
                RVal::Array(out)
            }
        }
    })
}

pub fn llen(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(l) => RVal::Int(l.map_or(0, |l| l.len()) as i64),
    }
}

pub fn lrange(ks: &Keyspace, now: Millis, key: &[u8], start: i64, stop: i64) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(None) => RVal::Array(vec![]),
        Ok(Some(l)) => match range(start, stop, l.len()) {
            None => RVal::Array(vec![]),
            Some((a, b)) => RVal::Array(l.range(a..=b).map(|v| RVal::Bulk(v.clone())).collect()),
        },
    }
}

pub fn lindex(ks: &Keyspace, now: Millis, key: &[u8], index: i64) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(None) => RVal::Nil,
        Ok(Some(l)) => {
            let i = if index < 0 { l.len() as i64 + index } else { index };
            usize::try_from(i)
                .ok()
                .and_then(|i| l.get(i))
                .map_or(RVal::Nil, |v| RVal::Bulk(v.clone()))
        }
    }
}

pub fn ltrim(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], start: i64, stop: i64) -> RVal {
    modify(ks, cx, key, RVal::Ok, |l| {
        match range(start, stop, l.len()) {
            None => l.clear(),
            Some((a, b)) => {
                l.truncate(b + 1);
                l.drain(..a);
            }
        }
        RVal::Ok
    })
}

pub fn lrem(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], count: i64, val: &[u8]) -> RVal {
    modify(ks, cx, key, RVal::Int(0), |l| {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < l.len() && removed < limit {
                if l[i] == val {
                    l.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = l.len();
            while i > 0 && removed < limit {
                i -= 1;
                if l[i] == val {
                    l.remove(i);
                    removed += 1;
                }
            }
        }
        RVal::Int(removed as i64)
    })
}
