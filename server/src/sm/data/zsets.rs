//! Sorted sets: ZADD, ZREM, ZCARD, ZCOUNT, ZSCORE, ZINCRBY, ZRANGE (by rank or score,
//! REV, LIMIT, WITHSCORES), ZREMRANGEBYSCORE, ZREMRANGEBYRANK.

use bytes::Bytes;

use super::super::ctx::Ctx;
use super::super::keyspace::Keyspace;
use super::super::rval::{RVal, F64};
use super::super::types::Millis;
use super::cmd::{ScoreBound, ZaddFlags, ZrangeBy};
use super::lists::range;
use super::value::Zset;
use super::{get as get_data, put, take_kind, wrongtype, Data, Val};

fn read<'a>(ks: &'a Keyspace, now: Millis, key: &[u8]) -> Result<Option<&'a Zset>, RVal> {
    match get_data(ks, now, key)? {
        None => Ok(None),
        Some(d) => match &d.val {
            Val::Zset(z) => Ok(Some(&**z)),
            _ => Err(wrongtype()),
        },
    }
}

fn modify(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    key: &[u8],
    create: bool,
    absent: RVal,
    f: impl FnOnce(&mut Zset) -> RVal,
) -> RVal {
    let mut d = match take_kind!(ks, cx, key, Zset) {
        Err(e) => return e,
        Ok(None) if !create => return absent,
        Ok(None) => Data::new(Val::Zset(Box::default())),
        Ok(Some(d)) => d,
    };
    let reply = match &mut d.val {
        Val::Zset(z) => f(z),
        _ => wrongtype(),
    };
    put(ks, cx, key, d);
    reply
}

fn above_min(s: f64, b: ScoreBound) -> bool {
    if b.exclusive {
        s > b.val.0
    } else {
        s >= b.val.0
    }
}

fn below_max(s: f64, b: ScoreBound) -> bool {
    if b.exclusive {
        s < b.val.0
    } else {
        s <= b.val.0
    }
}

fn in_range(s: f64, min: ScoreBound, max: ScoreBound) -> bool {
    above_min(s, min) && below_max(s, max)
}

pub fn zadd(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], f: ZaddFlags, pairs: &[(F64, Bytes)]) -> RVal {
    let absent = if f.incr { RVal::Nil } else { RVal::Int(0) };
    // XX never creates the key.
    modify(ks, cx, key, !f.xx, absent, |z| {
        let (mut added, mut changed) = (0i64, 0i64);
        let mut incr_result = RVal::Nil;
        for (score, m) in pairs {
            let old = z.score(m);
            if (f.nx && old.is_some()) || (f.xx && old.is_none()) {
                continue;
            }
            let new = match (f.incr, old) {
                (true, Some(o)) => o + score.0,
                _ => score.0,
            };
            if new.is_nan() {
                return RVal::err("ERR resulting score is not a number (NaN)");
            }
            if let Some(o) = old {
                if (f.gt && new <= o) || (f.lt && new >= o) {
                    continue;
                }
                if o != new {
                    changed += 1;
                }
            } else {
                added += 1;
            }
            z.insert(Bytes::copy_from_slice(m), new);
            incr_result = RVal::Double(F64(new));
        }
        if f.incr {
            incr_result
        } else if f.ch {
            RVal::Int(added + changed)
        } else {
            RVal::Int(added)
        }
    })
}

pub fn zrem(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], members: &[Bytes]) -> RVal {
    modify(ks, cx, key, false, RVal::Int(0), |z| {
        RVal::Int(members.iter().filter(|m| z.remove(m)).count() as i64)
    })
}

pub fn zincrby(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], by: f64, member: &Bytes) -> RVal {
    modify(ks, cx, key, true, RVal::Nil, |z| {
        let new = z.score(member).unwrap_or(0.0) + by;
        if new.is_nan() {
            return RVal::err("ERR resulting score is not a number (NaN)");
        }
        z.insert(Bytes::copy_from_slice(member), new);
        RVal::Double(F64(new))
    })
}

pub fn zcard(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(z) => RVal::Int(z.map_or(0, |z| z.len()) as i64),
    }
}

pub fn zcount(ks: &Keyspace, now: Millis, key: &[u8], min: ScoreBound, max: ScoreBound) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(z) => RVal::Int(z.map_or(0, |z| z.iter().filter(|(_, s)| in_range(*s, min, max)).count()) as i64),
    }
}

pub fn zscore(ks: &Keyspace, now: Millis, key: &[u8], member: &[u8]) -> RVal {
    match read(ks, now, key) {
        Err(e) => e,
        Ok(z) => z
            .and_then(|z| z.score(member))
            .map_or(RVal::Nil, |s| RVal::Double(F64(s))),
    }
}

/// The members ZRANGE selects, in reply order.
fn select(z: &Zset, by: ZrangeBy, rev: bool, limit: Option<(i64, i64)>) -> Vec<(Bytes, f64)> {
    let all: Vec<(&Bytes, f64)> = if rev {
        z.iter().rev().collect()
    } else {
        z.iter().collect()
    };
    let picked: Vec<(&Bytes, f64)> = match by {
        ZrangeBy::Rank { start, stop } => match range(start, stop, all.len()) {
            None => vec![],
            Some((a, b)) => all[a..=b].to_vec(),
        },
        ZrangeBy::Score { min, max } => {
            let hits = all.into_iter().filter(|(_, s)| in_range(*s, min, max));
            match limit {
                None => hits.collect(),
                Some((off, _)) if off < 0 => vec![],
                Some((off, cnt)) => {
                    let cnt = if cnt < 0 { usize::MAX } else { cnt as usize };
                    hits.skip(off as usize).take(cnt).collect()
                }
            }
        }
    };
    picked.into_iter().map(|(m, s)| (m.clone(), s)).collect()
}

pub fn zrange(
    ks: &Keyspace,
    now: Millis,
    key: &[u8],
    by: ZrangeBy,
    rev: bool,
    limit: Option<(i64, i64)>,
    withscores: bool,
) -> RVal {
    let z = match read(ks, now, key) {
        Err(e) => return e,
        Ok(None) => return RVal::Array(vec![]),
        Ok(Some(z)) => z,
    };
    let picked = select(z, by, rev, limit);
    if withscores {
        RVal::Scored(picked.into_iter().map(|(m, s)| (m, F64(s))).collect())
    } else {
        RVal::Array(picked.into_iter().map(|(m, _)| RVal::Bulk(m)).collect())
    }
}

pub fn zremrangebyscore(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], min: ScoreBound, max: ScoreBound) -> RVal {
    modify(ks, cx, key, false, RVal::Int(0), |z| {
        let gone: Vec<Bytes> = z
            .iter()
            .filter(|(_, s)| in_range(*s, min, max))
            .map(|(m, _)| m.clone())
            .collect();
        for m in &gone {
            z.remove(m);
        }
        RVal::Int(gone.len() as i64)
    })
}

pub fn zremrangebyrank(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], start: i64, stop: i64) -> RVal {
    modify(ks, cx, key, false, RVal::Int(0), |z| {
        let gone: Vec<Bytes> = match range(start, stop, z.len()) {
            None => vec![],
            Some((a, b)) => z.iter().skip(a).take(b - a + 1).map(|(m, _)| m.clone()).collect(),
        };
        for m in &gone {
            z.remove(m);
        }
        RVal::Int(gone.len() as i64)
    })
}
