//! RWLOCK: shared readers or one writer, each lease with its own fencing token and TTL,
//! and LOCK's replicated FIFO queue. Readers at the head of the queue are granted
//! together; a queued writer holds back every reader that arrives after it, so a steady
//! stream of readers cannot starve a writer.
//!
//! An owner holds at most one lease per name. Asking again in the mode it holds renews
//! it (same token); asking for the other mode is a new request that queues like anyone
//! else's, so a reader that wants to write must release its read first (an upgrade in
//! place would deadlock two readers that both try it).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::keyspace::Keyspace;
use super::leases::{self, Lease, Leased};
use super::small_bytes::SmallBytes;
use super::types::{Event, Millis, Response, RwLockView};
use super::wait_queue::{Queued, WaitQueue};
use crate::mutation::{self, Mutation};

/// One owner's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hold {
    pub owner: SmallBytes,
    pub token: u64,
    pub expires_at: Millis,
}

/// An RWLOCK READ/WRITE ... WAIT caller in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RwWaiter {
    pub id: u64,
    pub owner: SmallBytes,
    pub write: bool,
    pub ttl_ms: u64,
    pub deadline: Millis,
}

impl Queued for RwWaiter {
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

/// The holders and queue of one name. Not stored while nobody holds or waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RwLock {
    /// Whether `holders` is the one writer (else readers, or nobody).
    pub writer: bool,
    /// In grant order.
    pub holders: Vec<Hold>,
    pub queue: WaitQueue<RwWaiter>,
}

impl RwLock {
    fn empty() -> RwLock {
        RwLock {
            writer: false,
            holders: Vec::new(),
            queue: WaitQueue::new(),
        }
    }

    /// Whether a request of this mode could be granted now, queue aside.
    fn fits(&self, write: bool) -> bool {
        // The deliberate bug `rwlock-shared-writer` lets readers in beside a writer.
        let shared = !write && mutation::active(Mutation::RwReaderBesideWriter);
        self.holders.is_empty() || (!write && !self.writer) || shared
    }

    /// Whether anything is left at `now`: a lease that holds or a caller still waiting.
    pub fn is_live(&self, now: Millis) -> bool {
        self.holders.iter().any(|h| h.expires_at > now) || self.queue.live(now) > 0
    }

    /// Drops ended leases and given-up waiters, then grants the queue from its head:
    /// one writer, or every reader up to the first writer. `None` when nothing is left.
    pub fn settle(mut self, cx: &mut Ctx<'_>) -> Option<RwLock> {
        let now = cx.now;
        self.holders.retain(|h| h.expires_at > now);
        if self.holders.is_empty() {
            self.writer = false;
        }
        self.queue.drop_given_up(now, cx.events);
        while let Some(head) = self.queue.front() {
            if !self.fits(head.write) {
                break;
            }
            let Some(w) = self.queue.pop_front() else { break };
            let token = cx.issue_token();
            self.writer = w.write;
            leases::push(
                &mut self.holders,
                Hold {
                    owner: w.owner,
                    token,
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
        let first_end = self.holders.iter().map(|h| h.expires_at).min();
        Some(first_end.map_or(first_deadline, |e| e.min(first_deadline)))
    }

    /// When an unqueued lock may be forgotten: once its last lease ends.
    pub fn gc_due(&self) -> Option<Millis> {
        self.queue
            .is_empty()
            .then(|| self.holders.iter().map(|h| h.expires_at).max().unwrap_or(0))
    }

    /// The writer's token while a writer holds at `now` (what `FENCE ... LOCK` accepts).
    pub fn writer_token(&self, now: Millis) -> Option<u64> {
        if !self.writer {
            return None;
        }
        self.holders.iter().find(|h| h.expires_at > now).map(|h| h.token)
    }

    /// RWLOCK INFO at `now`; `None` while nobody holds.
    pub fn view(&self, now: Millis) -> Option<RwLockView> {
        let live = self.holders.iter().filter(|h| h.expires_at > now).count() as u64;
        (live > 0).then(|| RwLockView {
            write: self.writer,
            holders: live,
            token: self.writer_token(now),
            waiters: self.queue.live(now) as u64,
        })
    }
}

/// What RWLOCK READ / WRITE asks for.
pub(crate) struct Acquire<'a> {
    pub name: &'a Bytes,
    pub owner: &'a Bytes,
    pub write: bool,
    pub ttl_ms: u64,
    pub wait_ms: Option<u64>,
}

/// RWLOCK READ|WRITE name owner ttl [WAIT ms].
pub(crate) fn acquire(ks: &mut Keyspace, cx: &mut Ctx<'_>, a: Acquire<'_>) -> Response {
    if a.ttl_ms == 0 {
        return Response::Invalid("ttl must be positive".into());
    }
    let Ok(lock) = ks.take::<RwLock>(a.name, cx) else {
        return Response::WrongType;
    };
    let mut lock = lock.unwrap_or_else(RwLock::empty);
    let same_mode = lock.writer == a.write;
    let reply = if let Some(h) = lock.holders.iter_mut().find(|h| same_mode && h.owner == *a.owner) {
        h.expires_at = cx.after(a.ttl_ms);
        Response::Granted { token: h.token }
    } else if lock.queue.is_empty() && lock.fits(a.write) && !lock.holders.iter().any(|h| h.owner == *a.owner) {
        let token = cx.issue_token();
        lock.writer = a.write;
        leases::push(
            &mut lock.holders,
            Hold {
                owner: SmallBytes::from(a.owner),
                token,
                expires_at: cx.after(a.ttl_ms),
            },
        );
        Response::Granted { token }
    } else {
        match a.wait_ms {
            None | Some(0) => Response::NotGranted,
            Some(wait) => {
                let id = cx.issue_waiter_id();
                let waiter = RwWaiter {
                    id,
                    owner: SmallBytes::from(a.owner),
                    write: a.write,
                    ttl_ms: a.ttl_ms,
                    deadline: cx.after(wait),
                };
                lock.queue.enqueue(waiter, cx.events);
                Response::Queued { waiter: id }
            }
        }
    };
    let lock = lock.settle(cx);
    ks.restore(a.name, lock);
    reply
}

impl Lease for Hold {
    fn owner(&self) -> &SmallBytes {
        &self.owner
    }
    fn token(&self) -> u64 {
        self.token
    }
    fn end_mut(&mut self) -> &mut Millis {
        &mut self.expires_at
    }
}

/// RWLOCK RELEASE and EXTEND are `leases::release` and `leases::extend`.
impl Leased for RwLock {
    type L = Hold;
    fn leases(&mut self) -> &mut Vec<Hold> {
        &mut self.holders
    }
    fn after_change(self, cx: &mut Ctx<'_>) -> Option<RwLock> {
        self.settle(cx)
    }
}
