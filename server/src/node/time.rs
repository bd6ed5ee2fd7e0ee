//! What the leader's stamps are made of: its term (from Raft), the highest stamp in its
//! log when it took office, and its monotonic clock since (see `crate::clock`).

use openraft::async_runtime::watch::WatchReceiver;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::clock::LeaderClock;
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::types::Raft;
use crate::sm::Millis;

pub(super) struct Timekeeper {
    raft: Raft,
    log: LogStore,
    sm: StateMachineStore,
    clock: LeaderClock,
    /// When the proposer last stamped an entry.
    last_entry: Mutex<Instant>,
    /// Stamps given to entries that may not be applied yet, oldest first (pruned as the
    /// state machine's clock passes them): see `read_time`.
    in_flight: Mutex<VecDeque<Millis>>,
}

impl Timekeeper {
    pub(super) fn new(raft: Raft, log: LogStore, sm: StateMachineStore) -> Self {
        Self {
            raft,
            log,
            sm,
            clock: LeaderClock::default(),
            last_entry: Mutex::new(Instant::now()),
            in_flight: Mutex::new(VecDeque::new()),
        }
    }

    /// The stamp for an entry about to be proposed.
    pub(super) fn stamp_entry(&self) -> Millis {
        *self.last_entry.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let stamp = self.stamp();
        let applied = self.sm.read().sm.now();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut in_flight, applied);
        in_flight.push_back(stamp);
        stamp
    }

    /// The time a linearizable read is evaluated at: the cluster clock now, but never
    /// past the stamp of an entry that may still be unapplied.
    ///
    /// An entry's stamp is taken when it is proposed, and the entry takes effect when it
    /// applies, after the reads that ReadIndex ordered before it. A read evaluated at
    /// the leader's clock could see a lease expire at a time before that entry's stamp,
    /// and then the entry (a renewal stamped before the expiry) continue the very lease
    /// the read called free: the watch checker found that history. Capping the read's
    /// time at the oldest such stamp orders it before those entries in time as well as
    /// in the log; once they apply the cap lifts. (A stamp equal to the state machine's
    /// clock may be an entry still in flight that shares the millisecond, so it caps
    /// too.)
    pub(super) fn read_time(&self) -> Millis {
        let now = self.stamp();
        let applied = self.sm.read().sm.now();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut in_flight, applied);
        in_flight.front().map_or(now, |&oldest| now.min(oldest.max(applied)))
    }

    pub(super) fn since_last_entry(&self) -> Duration {
        self.last_entry.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }

    /// The cluster clock now: the leader's stamp, or the state machine's time elsewhere.
    pub(super) fn stamp(&self) -> Millis {
        let applied = self.sm.read().sm.now();
        let (leading, term) = {
            let m = self.raft.metrics();
            let m = m.borrow_watched();
            (m.state == ServerState::Leader, m.current_term)
        };
        if !leading {
            // Not (yet) seen as leader: a proposal stamped now is refused, or (in the
            // moment before the metrics catch up) holds the clock still. Neither runs
            // the clock ahead of the log.
            return applied;
        }
        self.clock
            .stamp(term, || applied.max(self.log.highest_stamp()))
            .max(applied)
    }
}

/// Drops the stamps the state machine's clock has passed: those entries are applied
/// (or were never committed, and a later entry's stamp has overtaken them).
fn prune(in_flight: &mut VecDeque<Millis>, applied: Millis) {
    while in_flight.front().is_some_and(|&s| s < applied) {
        in_flight.pop_front();
    }
}
