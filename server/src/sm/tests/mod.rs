//! Tests feed entries with chosen stamps and indexes, and read the state back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bucket;
mod fence;
mod idemp;
mod keyspace;
mod known_scripts;
mod lock;
mod lock_delay;
mod props;
mod rwlock;
mod semaphore;
mod small_bytes;
mod window;

use bytes::Bytes;

use super::{BucketParams, Event, Op, Request, Response, StateMachine};

/// A state machine with a log index that moves on by itself.
#[derive(Default)]
pub(super) struct Sim {
    pub sm: StateMachine,
    pub index: u64,
    /// Events of the last entry applied.
    pub events: Vec<Event>,
}

impl Sim {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `op` stamped `time` as the next log entry.
    pub fn at(&mut self, time: u64, op: Op) -> Response {
        let index = self.index + 1;
        self.at_index(index, time, op)
    }

    /// Applies `op` at a chosen log index (leaving a gap).
    pub fn at_index(&mut self, index: u64, time: u64, op: Op) -> Response {
        self.index = index;
        self.events.clear();
        let response = self.sm.apply(index, &Request { time, op }, &mut self.events);
        // Rebuilding is O(n): big keyspaces are checked by the property tests instead.
        if self.sm.keys.stored() <= 64 {
            assert!(
                self.sm.keys.indexes_consistent(),
                "deadline indexes drifted from the objects"
            );
        }
        response
    }
}

pub(super) fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

pub(super) fn acquire(name: &str, owner: &str, ttl_ms: u64, wait_ms: Option<u64>) -> Op {
    Op::LockAcquire {
        name: b(name),
        owner: b(owner),
        ttl_ms,
        wait_ms,
    }
}

pub(super) fn release(name: &str, owner: &str, token: u64) -> Op {
    Op::LockRelease {
        name: b(name),
        owner: b(owner),
        token,
    }
}

pub(super) fn extend(name: &str, owner: &str, token: u64, ttl_ms: u64) -> Op {
    Op::LockExtend {
        name: b(name),
        owner: b(owner),
        token,
        ttl_ms,
    }
}

pub(super) fn cancel(name: &str, waiter: u64) -> Op {
    Op::LockCancelWait { name: b(name), waiter }
}

pub(super) fn advance(resource: &str, token: u64, lock: Option<&str>) -> Op {
    Op::FenceAdvance {
        resource: b(resource),
        token,
        lock: lock.map(b),
    }
}

pub(super) fn fence_set(key: &str, token: u64, value: &str, lock: Option<&str>) -> Op {
    Op::FenceSet {
        key: b(key),
        token,
        value: b(value),
        lock: lock.map(b),
    }
}

pub(super) fn params(capacity: u64, refill_tokens: u64, refill_period_ms: u64) -> BucketParams {
    BucketParams {
        capacity,
        refill_tokens,
        refill_period_ms,
    }
}

pub(super) fn bucket(key: &str, p: BucketParams, cost: u64) -> Op {
    Op::Bucket {
        key: b(key),
        params: p,
        cost,
    }
}

pub(super) fn begin(key: &str, fp: &str, ttl_ms: u64, lease_ms: u64) -> Op {
    Op::IdempBegin {
        key: b(key),
        fingerprint: b(fp),
        ttl_ms,
        lease_ms,
    }
}

pub(super) fn complete(key: &str, token: u64, response: &str) -> Op {
    Op::IdempComplete {
        key: b(key),
        token,
        response: b(response),
    }
}

pub(super) fn abort(key: &str, token: u64) -> Op {
    Op::IdempAbort { key: b(key), token }
}

/// The token of a `Granted` or `IdempStarted` reply.
pub(super) fn token_of(r: &Response) -> u64 {
    match r {
        Response::Granted { token } | Response::IdempStarted { token } => *token,
        other => panic!("no token in {other:?}"),
    }
}
