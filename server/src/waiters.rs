//! Connections blocked in LOCK ... WAIT, keyed by waiter id (the log index of the
//! ACQUIRE that queued them). Outcomes come from applied entries on every replica;
//! only the node that holds the connection has someone to hand them to.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::sm::Event;

/// How a queued LOCK ... WAIT ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Granted(u64),
    Dropped,
}

enum Slot {
    Waiting(oneshot::Sender<WaitOutcome>),
    /// The outcome was applied before the proposer registered (it raced ahead of the
    /// proposer's task), or the waiter lives on another node. Kept briefly, then pruned.
    Resolved(WaitOutcome),
}

/// How long an outcome nobody has claimed is kept. Proposers register within
/// microseconds of their entry applying; this only bounds memory for waiters held by
/// other nodes.
const UNCLAIMED_TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Waiters {
    slots: DashMap<u64, Slot>,
    unclaimed: Mutex<VecDeque<(Instant, u64)>>,
}

impl Waiters {
    /// Delivers an applied event to the waiting connection, or keeps it for a while.
    pub fn resolve(&self, event: &Event) {
        let (id, outcome) = match *event {
            Event::WaiterGranted { waiter, token } => (waiter, WaitOutcome::Granted(token)),
            Event::WaiterDropped { waiter } => (waiter, WaitOutcome::Dropped),
        };
        match self.slots.entry(id) {
            Entry::Occupied(o) => {
                if let (_, Slot::Waiting(tx)) = o.remove_entry() {
                    // The receiver may be gone (client left); its cancel is on the way.
                    let _ = tx.send(outcome);
                }
            }
            Entry::Vacant(v) => {
                v.insert(Slot::Resolved(outcome));
                self.remember_unclaimed(id);
            }
        }
    }

    /// Registers interest in waiter `id`; resolves at once if the outcome is known.
    pub fn register(&self, id: u64) -> oneshot::Receiver<WaitOutcome> {
        let (tx, rx) = oneshot::channel();
        match self.slots.entry(id) {
            Entry::Occupied(mut o) => {
                if let Slot::Resolved(outcome) = *o.get() {
                    o.remove();
                    let _ = tx.send(outcome);
                } else {
                    o.insert(Slot::Waiting(tx));
                }
            }
            Entry::Vacant(v) => {
                v.insert(Slot::Waiting(tx));
            }
        }
        rx
    }

    /// Stops tracking waiter `id` (its connection went away).
    pub fn forget(&self, id: u64) {
        self.slots.remove(&id);
    }

    /// Number of connections currently blocked (for INFO).
    pub fn blocked(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.value(), Slot::Waiting(_)))
            .count()
    }

    fn remember_unclaimed(&self, id: u64) {
        let now = Instant::now();
        let mut q = self.unclaimed.lock().unwrap_or_else(|p| p.into_inner());
        q.push_back((now, id));
        while let Some(&(at, old)) = q.front() {
            if now.duration_since(at) < UNCLAIMED_TTL {
                break;
            }
            q.pop_front();
            self.slots.remove_if(&old, |_, s| matches!(s, Slot::Resolved(_)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outcome_before_or_after_registration_reaches_the_waiter() {
        let w = Waiters::default();
        w.resolve(&Event::WaiterGranted { waiter: 7, token: 42 });
        assert_eq!(w.register(7).await.ok(), Some(WaitOutcome::Granted(42)));
        let rx = w.register(8);
        w.resolve(&Event::WaiterDropped { waiter: 8 });
        assert_eq!(rx.await.ok(), Some(WaitOutcome::Dropped));
        assert_eq!(w.slots.len(), 0);
    }
}
