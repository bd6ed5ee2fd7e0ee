//! What one `apply` call carries into the per-kind code: its time, its log index, the
//! shared token sequence and the event sink.

use super::types::{Event, Millis};
use crate::mutation::{self, Mutation};

/// The per-entry context handed to every operation.
pub(crate) struct Ctx<'a> {
    /// The state machine's time for this entry (never behind any earlier entry's).
    pub now: Millis,
    /// Raft log index of the entry being applied.
    pub index: u64,
    /// Highest token issued so far; LOCK grants and IDEMP claims share it.
    pub last_token: &'a mut u64,
    /// Highest waiter id issued so far.
    pub last_waiter: &'a mut u64,
    /// Outcomes for queued LOCK waiters.
    pub events: &'a mut Vec<Event>,
}

impl Ctx<'_> {
    /// Issues the next fencing token.
    ///
    /// Using the log index as a floor keeps tokens above everything issued before even if
    /// a state machine were rebuilt from a log whose early entries are gone; the
    /// `last + 1` keeps several grants within one entry strictly increasing.
    pub fn issue_token(&mut self) -> u64 {
        // Deliberate bug for the harness: a per-process counter, which restarts at 1 and
        // differs between replicas, instead of the log's sequence.
        if mutation::active(Mutation::LocalTokens) {
            static LOCAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            return LOCAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        }
        let token = self.last_token.saturating_add(1).max(self.index);
        *self.last_token = token;
        token
    }

    /// Issues the id of a new LOCK waiter: unique even when one entry queues several.
    pub fn issue_waiter_id(&mut self) -> u64 {
        let id = self.last_waiter.saturating_add(1).max(self.index);
        *self.last_waiter = id;
        id
    }

    /// `now + ms`, pinned at the end of time instead of wrapping.
    pub fn after(&self, ms: u64) -> Millis {
        self.now.saturating_add(ms)
    }
}
