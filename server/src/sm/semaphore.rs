//! SEMAPHORE: at most `limit` permits leased at any instant, each lease with its own
//! fencing token and TTL, and a FIFO queue (LOCK's) that nobody jumps: a head that
//! needs more permits than are free holds back everyone behind it.
//!
//! An idle semaphore (no holder, nobody queued) is not stored at all: the limit comes
//! with every ACQUIRE, so there is nothing to remember.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::leases::{self, Lease, Leased};
use super::small_bytes::SmallBytes;
use super::types::{Event, Millis, Response, SemaphoreView};
use super::wait_queue::{Queued, WaitQueue};
use crate::mutation::{self, Mutation};

/// One holder's lease of `count` permits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SemLease {
    pub holder: SmallBytes,
    pub token: u64,
    pub count: u64,
    pub expires_at: Millis,
}

/// A SEMAPHORE ACQUIRE ... WAIT caller in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SemWaiter {
    pub id: u64,
    pub holder: SmallBytes,
    pub count: u64,
    pub ttl_ms: u64,
    pub deadline: Millis,
}

impl Queued for SemWaiter {
    fn id(&self) -> u64 {
        self.id
    }
    fn owner(&self) -> &SmallBytes {
        &self.holder
    }
    fn deadline(&self) -> Millis {
        self.deadline
    }
}

/// The leases and the queue of one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Semaphore {
    /// The limit the latest ACQUIRE gave.
    pub limit: u64,
    /// In grant order.
    pub leases: Vec<SemLease>,
    pub queue: WaitQueue<SemWaiter>,
}

impl Semaphore {
    /// Permits leased at `now`.
    pub fn used(&self, now: Millis) -> u64 {
        // The deliberate bug `semaphore-count-one` counts each lease as one permit.
        let one = mutation::active(Mutation::SemaphoreCountsLeases);
        self.leases
            .iter()
            .filter(|l| l.expires_at > now)
            .map(|l| if one { 1 } else { l.count })
            .sum()
    }

    /// Whether anything is left at `now`: a lease that holds or a caller still waiting.
    pub fn is_live(&self, now: Millis) -> bool {
        self.leases.iter().any(|l| l.expires_at > now) || self.queue.live(now) > 0
    }

    /// Drops ended leases and given-up waiters, then grants the queue from its head for
    /// as long as the head's permits fit. `None` when nothing is left.
    pub fn settle(mut self, cx: &mut Ctx<'_>) -> Option<Semaphore> {
        let now = cx.now;
        self.leases.retain(|l| l.expires_at > now);
        self.queue.drop_given_up(now, cx.events);
        while let Some(head) = self.queue.front() {
            if self.used(now) + head.count > self.limit {
                break;
            }
            let Some(w) = self.queue.pop_front() else { break };
            let token = cx.issue_token();
            leases::push(
                &mut self.leases,
                SemLease {
                    holder: w.holder,
                    token,
                    count: w.count,
                    expires_at: cx.after(w.ttl_ms),
                },
            );
            cx.events.push(Event::WaiterGranted { waiter: w.id, token });
        }
        self.is_live(now).then_some(self)
    }

    /// When a Tick must act for the queue: a lease ends or a waiter gives up.
    pub fn waiter_due(&self) -> Option<Millis> {
        let first_deadline = self.queue.first_deadline()?;
        let first_end = self.leases.iter().map(|l| l.expires_at).min();
        Some(first_end.map_or(first_deadline, |e| e.min(first_deadline)))
    }

    /// When an unqueued semaphore may be forgotten: once its last lease ends.
    pub fn gc_due(&self) -> Option<Millis> {
        self.queue
            .is_empty()
            .then(|| self.leases.iter().map(|l| l.expires_at).max().unwrap_or(0))
    }

    /// SEMAPHORE INFO at `now`.
    pub fn view(&self, now: Millis) -> SemaphoreView {
        SemaphoreView {
            limit: self.limit,
            used: self.used(now),
            holders: self.leases.iter().filter(|l| l.expires_at > now).count() as u64,
            waiters: self.queue.live(now) as u64,
        }
    }
}

/// What SEMAPHORE ACQUIRE asks for.
pub(crate) struct Acquire<'a> {
    pub name: &'a Bytes,
    pub holder: &'a Bytes,
    pub limit: u64,
    pub ttl_ms: u64,
    pub count: u64,
    pub wait_ms: Option<u64>,
}

/// SEMAPHORE ACQUIRE name holder limit ttl [COUNT n] [WAIT ms].
pub(crate) fn acquire(ks: &mut Keyspace, cx: &mut Ctx<'_>, a: Acquire<'_>) -> Response {
    if a.ttl_ms == 0 || a.count == 0 || a.limit == 0 {
        return Response::Invalid("ttl, COUNT and limit must be positive".into());
    }
    if a.count > a.limit {
        return Response::Invalid("COUNT is larger than the semaphore's limit".into());
    }
    let Ok(sem) = ks.take::<Semaphore>(a.name, cx) else {
        return Response::WrongType;
    };
    let mut sem = sem.unwrap_or(Semaphore {
        limit: a.limit,
        leases: Vec::new(),
        queue: WaitQueue::default(),
    });
    sem.limit = a.limit;
    let now = cx.now;
    let reply = if let Some(lease) = sem.leases.iter_mut().find(|l| l.holder == *a.holder) {
        // One lease per holder and name: asking again renews it, COUNT unchanged.
        lease.expires_at = cx.after(a.ttl_ms);
        Response::Granted { token: lease.token }
    } else if sem.queue.is_empty() && sem.used(now) + a.count <= sem.limit {
        let token = cx.issue_token();
        leases::push(
            &mut sem.leases,
            SemLease {
                holder: SmallBytes::from(a.holder),
                token,
                count: a.count,
                expires_at: cx.after(a.ttl_ms),
            },
        );
        Response::Granted { token }
    } else {
        match a.wait_ms {
            None | Some(0) => Response::NotGranted,
            Some(wait) => {
                let id = cx.issue_waiter_id();
                let waiter = SemWaiter {
                    id,
                    holder: SmallBytes::from(a.holder),
                    count: a.count,
                    ttl_ms: a.ttl_ms,
                    deadline: cx.after(wait),
                };
                sem.queue.enqueue(waiter, cx.events);
                Response::Queued { waiter: id }
            }
        }
    };
    // A raised limit may let the queue move at once.
    let sem = sem.settle(cx);
    ks.restore(a.name, sem);
    reply
}

impl Lease for SemLease {
    fn owner(&self) -> &SmallBytes {
        &self.holder
    }
    fn token(&self) -> u64 {
        self.token
    }
    fn end_mut(&mut self) -> &mut Millis {
        &mut self.expires_at
    }
}

/// SEMAPHORE RELEASE and EXTEND are `leases::release` and `leases::extend`.
impl Leased for Semaphore {
    type L = SemLease;
    fn leases(&mut self) -> &mut Vec<SemLease> {
        &mut self.leases
    }
    fn after_change(self, cx: &mut Ctx<'_>) -> Option<Semaphore> {
        self.settle(cx)
    }
}
