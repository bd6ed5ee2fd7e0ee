//! The replicated state machine: pure and deterministic. Every replica applies the same
//! entries with the same stamps and reaches the same state, bit for bit, so nothing
//! here reads a clock, draws a random number, does I/O or iterates a hashed collection.

pub mod types;
pub use types::*;

mod bucket;
mod ctx;
mod fence;
mod gc_index;
mod idemp;
mod keyspace;
mod keyspace_serde;
mod lock;
mod object;
mod slab;
mod small_bytes;
mod tick;
mod wait_queue;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use ctx::Ctx;
use keyspace::Keyspace;

/// The name exists as another kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
pub struct WrongType;

/// All replicated state: the clock, the token sequence and the keyspace. Its serde form
/// is the snapshot (the deadline indexes are rebuilt on decode, not stored).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateMachine {
    now: Millis,
    last_token: u64,
    /// Highest LOCK waiter id issued: one log entry may queue several waiters, so ids
    /// come from their own sequence rather than the entry's index.
    #[serde(default)]
    last_waiter: u64,
    keys: Keyspace,
}

impl StateMachine {
    /// An empty state machine at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one log entry. `index` is the Raft log index (strictly increasing across calls;
    /// gaps are possible because membership/blank entries do not reach here). Events for
    /// waiting clients are pushed onto `events`.
    pub fn apply(&mut self, index: u64, req: &Request, events: &mut Vec<Event>) -> Response {
        self.now = self.now.max(req.time);
        let ks = &mut self.keys;
        let cx = &mut Ctx {
            now: self.now,
            index,
            last_token: &mut self.last_token,
            last_waiter: &mut self.last_waiter,
            events,
        };
        match &req.op {
            Op::LockAcquire {
                name,
                owner,
                ttl_ms,
                wait_ms,
            } => lock::acquire(ks, cx, name, owner, *ttl_ms, *wait_ms),
            Op::LockRelease { name, owner, token } => lock::release(ks, cx, name, owner, *token),
            Op::LockExtend {
                name,
                owner,
                token,
                ttl_ms,
            } => lock::extend(ks, cx, name, owner, *token, *ttl_ms),
            Op::LockCancelWait { name, waiter } => lock::cancel_wait(ks, cx, name, *waiter),
            Op::FenceAdvance { resource, token, lock } => fence::advance(ks, cx, resource, *token, lock.as_ref()),
            Op::FenceSet {
                key,
                token,
                value,
                lock,
            } => fence::set(ks, cx, key, *token, value, lock.as_ref()),
            Op::Bucket { key, params, cost } => bucket::take(ks, cx, key, *params, *cost),
            Op::IdempBegin {
                key,
                fingerprint,
                ttl_ms,
                lease_ms,
            } => idemp::begin(ks, cx, key, fingerprint, *ttl_ms, *lease_ms),
            Op::IdempComplete { key, token, response } => idemp::complete(ks, cx, key, *token, response),
            Op::IdempAbort { key, token } => idemp::abort(ks, cx, key, *token),
            Op::Tick => tick::tick(ks, cx),
        }
    }

    /// The state machine's "now": max of all stamps applied so far (0 initially).
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Highest fencing token ever issued (0 if none).
    pub fn last_token(&self) -> u64 {
        self.last_token
    }

    /// Earliest stamped time at which a Tick would grant or drop a queued LOCK waiter
    /// (a held lock with a non-empty queue expires, or a waiter's WAIT deadline passes).
    pub fn next_waiter_deadline(&self) -> Option<Millis> {
        self.keys.next_waiter_due()
    }

    /// Earliest stamped time at which a Tick would forget an expired object (GC).
    pub fn next_gc_deadline(&self) -> Option<Millis> {
        self.keys.next_gc_due()
    }

    /// LOCK INFO at `now`. An expired lease reads as free even while live waiters are
    /// queued for it (the Tick that hands it over is already due).
    pub fn lock_info(&self, name: &[u8], now: Millis) -> Result<Option<LockView>, WrongType> {
        let now = now.max(self.now);
        Ok(self.keys.read::<lock::Lock>(name, now)?.and_then(|l| l.view(now)))
    }

    /// FENCE GET: the highest token and the value, if the fence exists.
    pub fn fence_get(&self, key: &[u8]) -> Result<Option<(u64, Option<Bytes>)>, WrongType> {
        Ok(self
            .keys
            .read::<fence::Fence>(key, self.now)?
            .map(|f| (f.highest, f.value.clone())))
    }

    /// IDEMP GET at `now`.
    pub fn idemp_get(&self, key: &[u8], now: Millis) -> Result<Option<IdempView>, WrongType> {
        let now = now.max(self.now);
        Ok(self.keys.read::<idemp::Idemp>(key, now)?.map(|r| r.view(now)))
    }

    /// TOKENBUCKET ... COST 0 (peek): the reply without taking anything.
    pub fn bucket_peek(&self, key: &[u8], params: BucketParams, now: Millis) -> Result<BucketReply, WrongType> {
        bucket::peek(&self.keys, key, params, now.max(self.now))
    }

    /// DBSIZE: number of live (unexpired at `now`) objects.
    pub fn len_live(&self, now: Millis) -> usize {
        self.keys.live_count(now.max(self.now))
    }
}
