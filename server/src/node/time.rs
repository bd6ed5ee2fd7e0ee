//! What the leader's stamps are made of: its term (from Raft), the highest stamp in its
//! log when it took office, and its monotonic clock since (see `crate::clock`).

use openraft::async_runtime::watch::WatchReceiver;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Stamps of the entries being written, by stamping order: see `read_time`.
    in_flight: Arc<Mutex<BTreeMap<u64, Millis>>>,
    next_seq: AtomicU64,
}

/// An entry's place in `Timekeeper::in_flight`, removed when the proposer drops it
/// (its `client_write` answered: applied, or failed).
struct Written {
    in_flight: Arc<Mutex<BTreeMap<u64, Millis>>>,
    seq: u64,
}

impl Drop for Written {
    fn drop(&mut self) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.seq);
    }
}

impl Timekeeper {
    pub(super) fn new(raft: Raft, log: LogStore, sm: StateMachineStore) -> Self {
        Self {
            raft,
            log,
            sm,
            clock: LeaderClock::default(),
            last_entry: Mutex::new(Instant::now()),
            in_flight: Arc::default(),
            next_seq: AtomicU64::new(0),
        }
    }

    /// The stamp for an entry about to be proposed, and its place among the entries
    /// being written (the proposer holds it until the write answers).
    pub(super) fn stamp_entry(&self) -> (Millis, Box<dyn Send>) {
        *self.last_entry.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        // Stamped under the lock: stamps then grow with `seq`, so the first entry of the
        // map has the oldest stamp.
        let stamp = self.stamp();
        in_flight.insert(seq, stamp);
        let written = Written {
            in_flight: self.in_flight.clone(),
            seq,
        };
        (stamp, Box::new(written))
    }

    /// The time a linearizable read is evaluated at: the cluster clock now, but never
    /// past the stamp of an entry that may still be unapplied.
    ///
    /// An entry's stamp is taken when it is proposed, and the entry takes effect when it
    /// applies, after the reads that ReadIndex ordered before it. A read evaluated at
    /// the leader's clock could see a lease expire at a time before that entry's stamp,
    /// and then the entry (a renewal stamped before the expiry) continue the very lease
    /// the read called free: the watch checker found that history. Capping the read's
    /// time at the oldest stamp still being written orders the read before those
    /// entries in time as well as in the log; once they answer the cap lifts.
    pub(super) fn read_time(&self) -> Millis {
        let now = self.stamp();
        let in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        in_flight.first_key_value().map_or(now, |(_, &oldest)| now.min(oldest))
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
