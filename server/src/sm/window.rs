//! RATELIMIT SLIDING: an exact sliding-window limit. Every admitted call leaves its
//! stamp (the cluster clock of its entry) in a log, one `u64` per permit, oldest first;
//! a call is admitted only if the stamps younger than the window plus its cost stay
//! within the limit. No approximation: the answer is the one a person counting the
//! admitted calls of the last `window-ms` would give.

use std::collections::VecDeque;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::types::{BucketReply, Millis, Response};
use crate::mutation::{self, Mutation};

/// The largest limit: it bounds the log at 800 KB per key.
pub const MAX_LIMIT: u64 = 100_000;

/// The admission stamps of one key, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Window {
    /// The window the latest call gave (decides when the key may be forgotten).
    pub window_ms: u64,
    pub stamps: VecDeque<Millis>,
}

impl Window {
    /// How many of the oldest stamps left the window at `now` (a stamp counts while
    /// `stamp > now - window`; with `now < window` every stamp still counts).
    fn expired(&self, now: Millis, window_ms: u64) -> usize {
        if now < window_ms {
            return 0;
        }
        let horizon = now - window_ms;
        self.stamps.partition_point(|&s| s <= horizon)
    }

    /// Whether any stamp still counts at `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        self.stamps.back().is_some_and(|&s| s + self.window_ms > now)
    }

    /// When the key may be forgotten: when its newest stamp leaves the window.
    pub fn forget_at(&self) -> Millis {
        self.stamps.back().map_or(0, |&s| s + self.window_ms)
    }

    /// The reply for a call of `cost` at `now`, counting the stamps from `from` on
    /// (those before it left the window), and whether it is admitted.
    fn decide(&self, from: usize, now: Millis, limit: u64, window_ms: u64, cost: u64) -> BucketReply {
        let used = (self.stamps.len() - from) as u64;
        let reset = |newest: Option<&Millis>| newest.map_or(0, |&s| (s + window_ms).saturating_sub(now));
        if used + cost <= limit {
            return BucketReply {
                limited: false,
                capacity: limit,
                remaining: limit - used - cost,
                retry_after_ms: -1,
                // The newest stamp is this call's when it takes anything.
                reset_after_ms: if cost > 0 { window_ms } else { reset(self.stamps.back()) },
            };
        }
        // The k-th oldest stamp must leave before `cost` more fit.
        let k = (used + cost - limit) as usize;
        let retry = self
            .stamps
            .get(from + k - 1)
            .map_or(0, |&s| (s + window_ms).saturating_sub(now));
        BucketReply {
            limited: true,
            capacity: limit,
            remaining: limit.saturating_sub(used),
            retry_after_ms: retry as i64,
            reset_after_ms: reset(self.stamps.back()),
        }
    }
}

/// What RATELIMIT SLIDING asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingParams {
    pub limit: u64,
    pub window_ms: u64,
}

fn check(params: SlidingParams, cost: u64) -> Result<(), Response> {
    if params.limit == 0 || params.limit > MAX_LIMIT {
        return Err(Response::Invalid(format!("limit must be 1..={MAX_LIMIT}")));
    }
    if params.window_ms == 0 {
        return Err(Response::Invalid("window must be positive".into()));
    }
    if cost > params.limit {
        return Err(Response::Invalid("COST is larger than the limit".into()));
    }
    Ok(())
}

/// RATELIMIT SLIDING key limit window-ms [COST n].
pub(crate) fn take(ks: &mut Keyspace, cx: &mut Ctx<'_>, key: &Bytes, params: SlidingParams, cost: u64) -> Response {
    if let Err(r) = check(params, cost) {
        return r;
    }
    let Ok(w) = ks.take::<Window>(key, cx) else {
        return Response::WrongType;
    };
    let mut w = w.unwrap_or_default();
    let now = cx.now;
    // The deliberate bug `sliding-half-window` forgets admissions too early.
    let forget_after = if mutation::active(Mutation::SlidingHalfWindow) {
        params.window_ms / 2
    } else {
        params.window_ms
    };
    let gone = w.expired(now, forget_after);
    w.stamps.drain(..gone);
    w.window_ms = params.window_ms;
    let reply = w.decide(0, now, params.limit, params.window_ms, cost);
    if !reply.limited {
        w.stamps.extend(std::iter::repeat_n(now, cost as usize));
    }
    ks.restore(key, (!w.stamps.is_empty()).then_some(w));
    Response::Bucket(reply)
}

/// RATELIMIT SLIDING ... COST 0: the reply without taking anything (the parameters
/// were checked when the command was parsed).
pub(crate) fn peek(
    ks: &Keyspace,
    key: &[u8],
    params: SlidingParams,
    now: Millis,
) -> Result<BucketReply, super::WrongType> {
    let Some(w) = ks.read::<Window>(key, now)? else {
        return Ok(Window::default().decide(0, now, params.limit, params.window_ms, 0));
    };
    Ok(w.decide(w.expired(now, params.window_ms), now, params.limit, params.window_ms, 0))
}
