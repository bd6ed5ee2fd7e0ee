//! LOCK: leases with fencing tokens and a replicated FIFO queue of waiters.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::lock_delay::DelayedLock;
use super::object::Object;
use super::small_bytes::SmallBytes;
use super::types::{Event, LockView, Millis, Response};
use super::wait_queue::{Queued, WaitQueue};
use crate::mutation::{self, Mutation};

/// When a lease granted now for `ttl_ms` ends. The deliberate bug `grant-after-expiry`
/// records a quarter of it, so the next owner is granted the lock while the client that
/// was told `ttl_ms` still holds it (the etcd#11456 class: a grant past the lease).
fn lease_end(cx: &Ctx<'_>, ttl_ms: u64) -> Millis {
    if mutation::active(Mutation::GrantAfterExpiry) {
        return cx.after(ttl_ms / 4);
    }
    cx.after(ttl_ms)
}

/// A held lock and the callers queued for it. Kept small (48 bytes) because it sits
/// inline in every keyspace slot: see `object.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lock {
    pub owner: SmallBytes,
    pub token: u64,
    /// First instant at which the lease no longer holds.
    pub expires_at: Millis,
    pub queue: WaitQueue,
}

/// A LOCK ACQUIRE ... WAIT caller in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Waiter {
    /// Unique id from the state machine's waiter sequence.
    pub id: u64,
    pub owner: SmallBytes,
    pub ttl_ms: u64,
    /// First instant at which the caller has given up.
    pub deadline: Millis,
}

impl Queued for Waiter {
    fn id(&self) -> u64 {
        self.id
    }
    fn owner(&self) -> &SmallBytes {
        &self.owner
    }
    fn deadline(&self) -> Millis {
        self.deadline
    }
}

impl Lock {
    /// Whether the lease holds at `now`.
    pub fn held_at(&self, now: Millis) -> bool {
        now < self.expires_at
    }

    /// Whether the name still holds a lock at `now`: held, or someone alive is queued
    /// to take it over.
    pub fn is_live(&self, now: Millis) -> bool {
        self.held_at(now) || self.queue.iter().any(|w| w.deadline > now)
    }

    /// Drops given-up waiters and, if the lease is over, hands the lock to the queue.
    pub fn settle(mut self, cx: &mut Ctx<'_>) -> Option<Lock> {
        let now = cx.now;
        self.queue.drop_given_up(now, cx.events);
        if self.held_at(now) {
            Some(self)
        } else {
            self.hand_off(cx)
        }
    }

    /// Gives the lock to the first live waiter, or frees the name if there is none.
    fn hand_off(self, cx: &mut Ctx<'_>) -> Option<Lock> {
        self.hand_off_to_waiter(cx).map(|(lock, _)| lock)
    }

    /// Gives the lock to the first live waiter and names it, or frees the name.
    pub fn hand_off_to_waiter(mut self, cx: &mut Ctx<'_>) -> Option<(Lock, u64)> {
        while let Some(w) = self.queue.pop_front() {
            if w.deadline <= cx.now {
                cx.events.push(Event::WaiterDropped { waiter: w.id });
                continue;
            }
            let token = cx.issue_token();
            self.owner = w.owner;
            self.token = token;
            self.expires_at = lease_end(cx, w.ttl_ms);
            cx.events.push(Event::WaiterGranted { waiter: w.id, token });
            // Only a lease granted at the very end of time can be over at once.
            if self.held_at(cx.now) {
                return Some((self, w.id));
            }
        }
        None
    }

    /// When a Tick must act for the queue: the lease ends or a waiter gives up.
    pub fn waiter_due(&self) -> Option<Millis> {
        let first_deadline = self.queue.first_deadline()?;
        Some(first_deadline.min(self.expires_at))
    }

    /// When an unqueued lock may be forgotten (a queued one is the queue's business).
    pub fn gc_due(&self) -> Option<Millis> {
        self.queue.is_empty().then_some(self.expires_at)
    }

    /// LOCK INFO at `now`. An expired lease reads as free even while a live waiter is
    /// queued: the Tick that hands it over is due at once, and guessing its token here
    /// would be wrong.
    pub fn view(&self, now: Millis) -> Option<LockView> {
        self.held_at(now).then(|| LockView {
            owner: Bytes::from(&self.owner),
            token: self.token,
            ttl_remaining_ms: self.expires_at - now,
            waiters: self.queue.live(now) as u64,
        })
    }
}

/// What LOCK ACQUIRE asks for.
pub(crate) struct Acquire<'a> {
    pub name: &'a Bytes,
    pub owner: &'a Bytes,
    pub ttl_ms: u64,
    pub wait_ms: Option<u64>,
    /// Lock delay of the lease (0: none), see `lock_delay.rs`.
    pub delay_ms: u64,
}

/// LOCK ACQUIRE name owner ttl [WAIT ms] [DELAY ms].
pub(crate) fn acquire(ks: &mut Keyspace, cx: &mut Ctx<'_>, a: Acquire<'_>) -> Response {
    if a.ttl_ms == 0 {
        return Response::Invalid("ttl must be positive".into());
    }
    let Ok(lock) = ks.take::<DelayedLock>(a.name, cx) else {
        return Response::WrongType;
    };
    let now = cx.now;
    let (lock, reply) = match lock {
        None => {
            let token = cx.issue_token();
            let lock = Lock {
                owner: SmallBytes::from(a.owner),
                token,
                expires_at: lease_end(cx, a.ttl_ms),
                queue: WaitQueue::new(),
            };
            let mut lock = DelayedLock::plain(lock);
            lock.delay_ms = a.delay_ms;
            (lock, Response::Granted { token })
        }
        // The holder renews; an owner whose lease expired into its delay does not.
        Some(mut l) if l.lock.owner == *a.owner && l.held_at(now) => {
            l.lock.expires_at = lease_end(cx, a.ttl_ms);
            l.delay_ms = a.delay_ms;
            let token = l.lock.token;
            (l, Response::Granted { token })
        }
        Some(mut l) => match a.wait_ms {
            None | Some(0) => (l, Response::NotGranted),
            Some(wait) => {
                let id = cx.issue_waiter_id();
                let waiter = Waiter {
                    id,
                    owner: SmallBytes::from(a.owner),
                    ttl_ms: a.ttl_ms,
                    deadline: cx.after(wait),
                };
                l.lock.queue.enqueue(waiter, cx.events);
                if a.delay_ms > 0 {
                    l.waiter_delays.push((id, a.delay_ms));
                }
                (l, Response::Queued { waiter: id })
            }
        },
    };
    ks.restore(a.name, Some(lock));
    reply
}

/// LOCK RELEASE name owner token.
pub(crate) fn release(ks: &mut Keyspace, cx: &mut Ctx<'_>, name: &Bytes, owner: &Bytes, token: u64) -> Response {
    let Ok(lock) = ks.take::<DelayedLock>(name, cx) else {
        return Response::WrongType;
    };
    // A release is not an expiry: no delay, the queue moves at once.
    let (lock, released) = match lock {
        Some(l) if l.lock.owner == *owner && l.lock.token == token && l.held_at(cx.now) => (l.hand_off(cx), true),
        other => (other, false),
    };
    ks.restore(name, lock);
    Response::Bool(released)
}

/// LOCK EXTEND name owner token ttl.
pub(crate) fn extend(
    ks: &mut Keyspace,
    cx: &mut Ctx<'_>,
    name: &Bytes,
    owner: &Bytes,
    token: u64,
    ttl_ms: u64,
) -> Response {
    if ttl_ms == 0 {
        return Response::Invalid("ttl must be positive".into());
    }
    let Ok(mut lock) = ks.take::<DelayedLock>(name, cx) else {
        return Response::WrongType;
    };
    // The deliberate bug `extend-any-owner` renews whoever holds the lock.
    let any = mutation::active(Mutation::ExtendAnyOwner);
    let now = cx.now;
    let extended = match lock.as_mut().filter(|l| l.held_at(now)) {
        Some(l) if any || (l.lock.owner == *owner && l.lock.token == token) => {
            l.lock.expires_at = lease_end(cx, ttl_ms);
            true
        }
        _ => false,
    };
    ks.restore(name, lock);
    Response::Bool(extended)
}

/// A waiting client went away (LOCK, SEMAPHORE or RWLOCK ... WAIT): its queue entry goes
/// before anything is handed off, so nothing is granted to a caller known to be gone.
/// A name of another kind answers `false`, not WRONGTYPE: no client sends this, and
/// its waiter is not there.
pub(crate) fn cancel_wait(ks: &mut Keyspace, cx: &mut Ctx<'_>, name: &Bytes, waiter: u64) -> Response {
    let Some(obj) = ks.remove(name) else {
        return Response::Bool(false);
    };
    let (found, settled) = match obj {
        Object::Lock(mut lock) => {
            let found = lock.queue.remove_first(|w| w.id == waiter);
            (found, Object::Lock(lock))
        }
        Object::DelayedLock(mut lock) => {
            let found = lock.lock.queue.remove_first(|w| w.id == waiter);
            (found, Object::DelayedLock(lock))
        }
        Object::Semaphore(mut sem) => {
            let found = sem.queue.remove_first(|w| w.id == waiter);
            (found, Object::Semaphore(sem))
        }
        Object::RwLock(mut rw) => {
            let found = rw.queue.remove_first(|w| w.id == waiter);
            (found, Object::RwLock(rw))
        }
        other => {
            ks.put(name, other);
            return Response::Bool(false);
        }
    };
    if found {
        cx.events.push(Event::WaiterDropped { waiter });
    }
    if let Some(obj) = settled.settle(cx) {
        ks.put(name, obj);
    }
    Response::Bool(found)
}
