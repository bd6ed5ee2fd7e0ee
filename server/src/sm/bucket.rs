//! TOKENBUCKET: smooth-refill rate limiting in exact integer arithmetic.
//!
//! A level is kept in units of 1/`refill_period_ms` of a token, so refilling is adding
//! `elapsed_ms * refill_tokens`: no floats and no rounding while the period stays the
//! same. Products of two u64 always fit a u128.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::types::{BucketParams, BucketReply, Millis, Response};
use super::WrongType;
use crate::mutation::{self, Mutation};

/// Whether this process applies a take on `key` for the first time (`bucket-reset` only).
fn first_touch(key: &Bytes) -> bool {
    static SEEN: std::sync::Mutex<Option<std::collections::HashSet<Bytes>>> = std::sync::Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.get_or_insert_with(Default::default).insert(key.clone())
}

/// A bucket that is not full; a full one is not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bucket {
    /// Parameters of the last call that took tokens; `level` is in their units.
    pub params: BucketParams,
    /// Tokens times `params.refill_period_ms`.
    pub level: u128,
    /// When `level` was measured.
    pub at: Millis,
}

impl Bucket {
    /// When the bucket is full again under its own parameters, and so may be forgotten.
    pub fn full_at(&self) -> Millis {
        let missing = capacity_units(self.params).saturating_sub(self.level);
        let ms = ceil_div(missing, u128::from(self.params.refill_tokens));
        self.at.saturating_add(saturate_u64(ms))
    }

    /// A bucket full by `now` reads as absent, which reads as full.
    pub fn is_live(&self, now: Millis) -> bool {
        now < self.full_at()
    }

    /// The level at `now` in units of `p`, refilled at `p`'s rate since it was measured.
    fn level_at(&self, p: BucketParams, now: Millis) -> u128 {
        let base = rescale(self.level, self.params.refill_period_ms, p.refill_period_ms);
        let gained = u128::from(now.saturating_sub(self.at)) * u128::from(p.refill_tokens);
        base.saturating_add(gained).min(capacity_units(p))
    }
}

/// Why parameters are refused, in the words of the `-ERR` reply.
pub(crate) fn validate(p: BucketParams, cost: u64) -> Result<(), &'static str> {
    if p.capacity == 0 {
        Err("capacity must be positive")
    } else if p.refill_tokens == 0 {
        Err("refill tokens must be positive")
    } else if p.refill_period_ms == 0 {
        Err("refill period must be positive")
    } else if cost > p.capacity {
        Err("COST exceeds capacity")
    } else {
        Ok(())
    }
}

/// TOKENBUCKET key capacity refill-tokens refill-period-ms [COST n].
pub(crate) fn take(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &Bytes, p: BucketParams, cost: u64) -> Response {
    if let Err(why) = validate(p, cost) {
        return Response::Invalid(why.into());
    }
    let stored = match ks.take::<Bucket>(key, cx) {
        Ok(stored) => stored,
        Err(WrongType) => return Response::WrongType,
    };
    // Deliberate bug `bucket-reset`: a process forgets every bucket level it has not
    // itself taken from since it started, so a restarted node that becomes leader
    // serves buckets as full again (state lost on failover).
    let stored = if mutation::active(Mutation::BucketResetOnFailover) && first_touch(key) {
        None
    } else {
        stored
    };
    let level = level_of(stored.as_ref(), p, cx.now);
    let need = units(cost, p);
    if cost == 0 || level < need {
        ks.restore(key, stored);
        return Response::Bucket(reply(p, level, need, cost > 0));
    }
    let left = level - need;
    ks.restore(
        key,
        Some(Bucket {
            params: p,
            level: left,
            at: cx.now,
        }),
    );
    Response::Bucket(reply(p, left, need, false))
}

/// TOKENBUCKET ... COST 0 as a read. Callers validate parameters first; invalid ones
/// get a refusal that claims nothing (`limited`, zeros, retry -1) rather than a panic.
pub(crate) fn peek(ks: &Keyspace, key: &[u8], p: BucketParams, now: Millis) -> Result<BucketReply, WrongType> {
    let stored = ks.read::<Bucket>(key, now)?;
    if validate(p, 0).is_err() {
        return Ok(BucketReply {
            limited: true,
            capacity: p.capacity,
            remaining: 0,
            retry_after_ms: -1,
            reset_after_ms: 0,
        });
    }
    Ok(reply(p, level_of(stored, p, now), 0, false))
}

fn level_of(stored: Option<&Bucket>, p: BucketParams, now: Millis) -> u128 {
    stored.map_or(capacity_units(p), |b| b.level_at(p, now))
}

/// The reply for a bucket left at `level`; `need` is the cost in level units.
fn reply(p: BucketParams, level: u128, need: u128, limited: bool) -> BucketReply {
    let refill = u128::from(p.refill_tokens);
    let retry_after_ms = if limited {
        i64::try_from(ceil_div(need.saturating_sub(level), refill)).unwrap_or(i64::MAX)
    } else {
        -1
    };
    BucketReply {
        limited,
        capacity: p.capacity,
        remaining: saturate_u64(level / u128::from(p.refill_period_ms).max(1)),
        retry_after_ms,
        reset_after_ms: saturate_u64(ceil_div(capacity_units(p).saturating_sub(level), refill)),
    }
}

fn units(tokens: u64, p: BucketParams) -> u128 {
    u128::from(tokens) * u128::from(p.refill_period_ms)
}

fn capacity_units(p: BucketParams) -> u128 {
    units(p.capacity, p)
}

/// `level * to / from`, rounded down, without overflowing the intermediate product.
fn rescale(level: u128, from: u64, to: u64) -> u128 {
    if from == to {
        return level;
    }
    if from == 0 {
        return 0;
    }
    let (from, to) = (u128::from(from), u128::from(to));
    (level / from)
        .saturating_mul(to)
        .saturating_add(level % from * to / from)
}

/// Ceiling division; a zero divisor means "never", the largest value.
fn ceil_div(a: u128, b: u128) -> u128 {
    if b == 0 {
        return if a == 0 { 0 } else { u128::MAX };
    }
    a / b + u128::from(!a.is_multiple_of(b))
}

fn saturate_u64(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}
