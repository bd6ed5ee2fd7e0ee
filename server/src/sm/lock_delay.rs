//! Lock delay (Consul's lock-delay): `LOCK ACQUIRE ... DELAY ms`. When a lease taken
//! with a delay ends by expiry (its holder went silent, not RELEASE), nobody is granted
//! the lock until `ms` after the expiry; queued waiters keep their place and are served
//! after it. It gives a holder that may still be working, unaware that its lease ran
//! out, time to notice before anyone else acts.
//!
//! The delay lives beside the lock, not in it: `Lock` is 48 bytes in every keyspace
//! slot and its serde form is in every snapshot, so a lock that involves a delay is
//! stored as the boxed `Object::DelayedLock` (a variant added at the end, which older
//! snapshots never contain), and goes back to a plain `Object::Lock` as soon as no
//! delay is left in it. Every LOCK write goes through this type; a plain lock is one
//! whose delays are all zero.

use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::lock::Lock;
use super::object::{Kind, Object};
use super::types::Millis;
use crate::mutation::{self, Mutation};

/// A lock with the delays of its lease and of the queued callers that asked for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DelayedLock {
    pub lock: Lock,
    /// The current lease's delay (0: none).
    pub delay_ms: u64,
    /// (waiter id, delay) of the queued callers that asked for a delay.
    pub waiter_delays: Vec<(u64, u64)>,
}

impl DelayedLock {
    /// A lock with no delay anywhere.
    pub fn plain(lock: Lock) -> DelayedLock {
        DelayedLock {
            lock,
            delay_ms: 0,
            waiter_delays: Vec::new(),
        }
    }

    /// First instant at which the lock may go to someone else, the lease ending by
    /// expiry: the lease's end plus its delay.
    pub fn free_at(&self) -> Millis {
        self.lock.expires_at.saturating_add(self.delay_ms)
    }

    /// Whether the holder's lease holds at `now`.
    pub fn held_at(&self, now: Millis) -> bool {
        self.lock.held_at(now)
    }

    /// Whether the lease expired and its delay still keeps everyone out at `now`.
    pub fn blocked_at(&self, now: Millis) -> bool {
        // The deliberate bug `delay-ignored` never blocks.
        if mutation::active(Mutation::LockDelayIgnored) {
            return false;
        }
        !self.lock.held_at(now) && now < self.free_at()
    }

    /// Whether the name still exists at `now`: held, blocked, or someone alive queued.
    pub fn is_live(&self, now: Millis) -> bool {
        self.blocked_at(now) || self.lock.is_live(now)
    }

    /// Drops given-up waiters and, once the lease and its delay are over, hands the
    /// lock to the queue (each grant bringing the delay its waiter asked for).
    pub fn settle(mut self, cx: &mut Ctx<'_>) -> Option<DelayedLock> {
        self.lock.queue.drop_given_up(cx.now, cx.events);
        if self.held_at(cx.now) || self.blocked_at(cx.now) {
            return Some(self);
        }
        self.hand_off(cx)
    }

    /// Gives the lock to the first live waiter now (a RELEASE, or the delay is over).
    pub fn hand_off(mut self, cx: &mut Ctx<'_>) -> Option<DelayedLock> {
        let (lock, waiter) = self.lock.hand_off_to_waiter(cx)?;
        let at = self.waiter_delays.iter().position(|(id, _)| *id == waiter);
        self.delay_ms = at.map_or(0, |i| self.waiter_delays.swap_remove(i).1);
        self.lock = lock;
        Some(self)
    }

    /// When a Tick must act for the queue: the delay ends or a waiter gives up.
    pub fn waiter_due(&self) -> Option<Millis> {
        let first_deadline = self.lock.queue.first_deadline()?;
        Some(first_deadline.min(self.free_at()))
    }

    /// When an unqueued lock may be forgotten: when its delay is over.
    pub fn gc_due(&self) -> Option<Millis> {
        self.lock.queue.is_empty().then(|| self.free_at())
    }
}

impl Kind for DelayedLock {
    /// Either kind of lock: a plain one is a delayed one with no delays.
    fn from_object(obj: Object) -> Result<Self, Object> {
        match obj {
            Object::Lock(l) => Ok(DelayedLock::plain(l)),
            Object::DelayedLock(d) => Ok(*d),
            other => Err(other),
        }
    }
    /// Only the stored delayed form can be borrowed as one; reads go through `Lock`,
    /// whose view covers both forms.
    fn view(obj: &Object) -> Option<&Self> {
        match obj {
            Object::DelayedLock(d) => Some(d),
            _ => None,
        }
    }
    /// The plain 48-byte form whenever no delay is left.
    fn into_object(mut self) -> Object {
        let queue = &self.lock.queue;
        self.waiter_delays.retain(|(id, _)| queue.iter().any(|w| w.id == *id));
        if self.delay_ms == 0 && self.waiter_delays.is_empty() {
            Object::Lock(self.lock)
        } else {
            Object::DelayedLock(Box::new(self))
        }
    }
}
