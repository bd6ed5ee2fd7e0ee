//! Generic key commands: DEL, EXISTS, TYPE, EXPIRE family, TTL/PTTL, PERSIST, RENAME,
//! KEYS, SCAN. fencepost's own objects (locks, fences, buckets, idempotency records)
//! are visible to EXISTS, TYPE, KEYS and SCAN, but DEL, EXPIRE, PERSIST and RENAME
//! refuse them with WRONGTYPE: deleting a fence would let a stale token through.

use bytes::Bytes;

use super::super::ctx::Ctx;
use super::super::keyspace::Keyspace;
use super::super::object::Object;
use super::super::rval::RVal;
use super::super::types::Millis;
use super::cmd::{ExpireCond, Expiry};
use super::{deadline, glob, put, take, wrongtype};

fn type_name(o: &Object) -> &'static str {
    match o {
        Object::Data(d) => d.type_name(),
        Object::Lock(_) | Object::DelayedLock(_) => "lock",
        Object::Fence(_) => "fence",
        Object::Bucket(_) => "tokenbucket",
        Object::Idemp(_) => "idemp",
        Object::Semaphore(_) => "semaphore",
        Object::RwLock(_) => "rwlock",
        Object::Window(_) => "ratelimit",
    }
}

pub fn del(ks: &mut Keyspace, cx: &mut Ctx<'_>, keys: &[Bytes]) -> RVal {
    // Refuse before deleting anything, so the command is all or nothing.
    if keys
        .iter()
        .any(|k| ks.get_live(k, cx.now).is_some_and(|o| !matches!(o, Object::Data(_))))
    {
        return wrongtype();
    }
    let mut n = 0;
    for k in keys {
        if let Ok(Some(_)) = take(ks, cx, k) {
            n += 1;
        }
    }
    RVal::Int(n)
}

pub fn exists(ks: &Keyspace, now: Millis, keys: &[Bytes]) -> RVal {
    RVal::Int(keys.iter().filter(|k| ks.get_live(k, now).is_some()).count() as i64)
}

pub fn type_of(ks: &Keyspace, now: Millis, key: &[u8]) -> RVal {
    RVal::Status(ks.get_live(key, now).map_or("none", type_name).into())
}

pub fn expire(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8], at: Expiry, cond: ExpireCond) -> RVal {
    let mut d = match take(ks, cx, key) {
        Err(e) => return e,
        Ok(None) => return RVal::Int(0),
        Ok(Some(d)) => d,
    };
    let new_at = deadline(cx.now, at);
    let ok = match (cond, d.expires_at()) {
        (ExpireCond::Always, _) => true,
        (ExpireCond::Nx, cur) => cur.is_none(),
        (ExpireCond::Xx, cur) => cur.is_some(),
        // No expiry counts as infinite.
        (ExpireCond::Gt, cur) => cur.is_some_and(|c| new_at > c),
        (ExpireCond::Lt, cur) => cur.is_none_or(|c| new_at < c),
    };
    if ok {
        d.set_expires_at(Some(new_at));
    }
    // An expiry at or before now deletes the key (put drops it).
    put(ks, cx, key, d);
    RVal::Int(ok as i64)
}

pub fn ttl(ks: &Keyspace, now: Millis, key: &[u8], ms: bool) -> RVal {
    let Some(o) = ks.get_live(key, now) else {
        return RVal::Int(-2);
    };
    let Object::Data(d) = o else {
        return RVal::Int(-1);
    };
    match d.expires_at() {
        None => RVal::Int(-1),
        Some(at) => {
            let left = at.saturating_sub(now) as i64;
            RVal::Int(if ms { left } else { (left + 500) / 1000 })
        }
    }
}

pub fn persist(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &[u8]) -> RVal {
    match take(ks, cx, key) {
        Err(e) => e,
        Ok(None) => RVal::Int(0),
        Ok(Some(mut d)) => {
            let had = d.expires_at().is_some();
            d.set_expires_at(None);
            put(ks, cx, key, d);
            RVal::Int(had as i64)
        }
    }
}

pub fn rename(ks: &mut Keyspace, cx: &mut Ctx<'_>, src: &[u8], dst: &[u8], nx: bool) -> RVal {
    let dst_obj = ks.get_live(dst, cx.now);
    if dst_obj.is_some_and(|o| !matches!(o, Object::Data(_))) {
        return wrongtype();
    }
    let dst_exists = dst_obj.is_some();
    let d = match take(ks, cx, src) {
        Err(e) => return e,
        Ok(None) => return RVal::err("ERR no such key"),
        Ok(Some(d)) => d,
    };
    if src == dst {
        put(ks, cx, src, d);
        return if nx { RVal::Int(0) } else { RVal::Ok };
    }
    if nx && dst_exists {
        put(ks, cx, src, d);
        return RVal::Int(0);
    }
    put(ks, cx, dst, d);
    if nx {
        RVal::Int(1)
    } else {
        RVal::Ok
    }
}

pub fn keys(ks: &Keyspace, now: Millis, pattern: &[u8]) -> RVal {
    let mut names: Vec<&[u8]> = ks
        .iter()
        .filter(|(k, o)| o.is_live(now) && glob::matches(pattern, k.as_slice()))
        .map(|(k, _)| k.as_slice())
        .collect();
    // Sorted: the slab's order differs between replicas.
    names.sort_unstable();
    RVal::Array(names.into_iter().map(RVal::bulk).collect())
}

/// The SCAN order of a name: a fixed (not per-process) hash, so a cursor means the
/// same on every node and after failover. 0 is reserved for "start" and "done".
fn scan_hash(key: &[u8]) -> u64 {
    // FNV-1a, 64 bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h.max(1)
}

/// SCAN: keys whose scan hash is at least `cursor`, in hash order, about `count` of
/// them; the next cursor is the hash after the last one returned. Every key present for
/// the whole iteration is returned exactly once, as Redis promises.
pub fn scan(ks: &Keyspace, now: Millis, cursor: u64, pattern: Option<&[u8]>, count: u64, kind: Option<&[u8]>) -> RVal {
    let count = count.clamp(1, 100_000) as usize;
    // The `count` smallest hashes at or after the cursor (ties kept together below).
    let mut picked: Vec<(u64, &[u8], &Object)> = ks
        .iter()
        .map(|(k, o)| (scan_hash(k.as_slice()), k.as_slice(), o))
        .filter(|(h, _, _)| *h >= cursor)
        .collect();
    picked.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut end = picked.len().min(count);
    while end < picked.len() && end > 0 && picked[end].0 == picked[end - 1].0 {
        end += 1;
    }
    let next = match picked.get(end) {
        Some((h, _, _)) => *h,
        None => 0,
    };
    let names = picked[..end]
        .iter()
        .filter(|(_, k, o)| {
            o.is_live(now)
                && pattern.is_none_or(|p| glob::matches(p, k))
                && kind.is_none_or(|t| t.eq_ignore_ascii_case(type_name(o).as_bytes()))
        })
        .map(|(_, k, _)| RVal::bulk(k))
        .collect();
    RVal::Array(vec![RVal::Bulk(Bytes::from(next.to_string())), RVal::Array(names)])
}
