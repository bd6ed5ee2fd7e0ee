//! What the leader's stamps are made of: its term (from Raft), the highest stamp in its
//! log when it took office, and its monotonic clock since (see `crate::clock`).

use openraft::async_runtime::watch::WatchReceiver;
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
}

impl Timekeeper {
    pub(super) fn new(raft: Raft, log: LogStore, sm: StateMachineStore) -> Self {
        Self {
            raft,
            log,
            sm,
            clock: LeaderClock::default(),
            last_entry: Mutex::new(Instant::now()),
        }
    }

    /// The stamp for an entry about to be proposed.
    pub(super) fn stamp_entry(&self) -> Millis {
        *self.last_entry.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.stamp()
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
