//! The cluster clock (SPEC.md "Time"): the time a leader stamps on log entries.
//!
//! A leader takes office at the highest stamp in its log and adds the time elapsed on
//! its own monotonic clock since then. No wall clock enters it, so stepping or skewing
//! any node's wall clock moves no lease, refill or deadline. While no leader proposes
//! (an election, a cluster down) the clock stands still: leases last longer in real
//! time, never shorter.
//!
//! Why the highest stamp *in the log* and not the highest stamp this node ever issued:
//! every entry after the new leader's first one follows, in the log, an entry that was
//! already in that log when it took office. So along the committed log, the stamps of
//! two entries differ by at most the real time between their proposals, which is what
//! makes a lease granted at one stamp last at least its TTL in real time. A stamp from
//! an entry that was later cut from the log carries no such bound.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::mutation::{self, Mutation};
use crate::sm::Millis;

/// One term of leadership as this node's clock sees it.
#[derive(Debug, Clone, Copy)]
struct Office {
    term: u64,
    /// The highest stamp in the log when this node took office.
    base: Millis,
    /// This node's monotonic time when it took office.
    since: Instant,
}

/// The leader's stamp source. Followers keep one too, unused until they lead.
#[derive(Debug, Default)]
pub struct LeaderClock {
    office: Mutex<Option<Office>>,
}

impl LeaderClock {
    /// The stamp for an entry proposed now by the leader of `term`. `log_high` gives the
    /// highest stamp in the log (applied or not); it is asked once per term, on the
    /// first stamp, before this node has stamped anything in that term.
    pub fn stamp(&self, term: u64, log_high: impl FnOnce() -> Millis) -> Millis {
        self.stamp_at(term, Instant::now(), log_high)
    }

    /// `stamp` at monotonic instant `mono` (tests drive it with simulated time).
    fn stamp_at(&self, term: u64, mono: Instant, log_high: impl FnOnce() -> Millis) -> Millis {
        if mutation::active(Mutation::WallClockStamps) {
            // The pre-fix clock: wall time, never below what the log already holds.
            return wall_clock_ms().max(log_high());
        }
        let mut office = self.office.lock().unwrap_or_else(|p| p.into_inner());
        let current = match *office {
            Some(o) if o.term == term => o,
            _ => {
                let high = log_high();
                // An empty cluster starts at the wall-clock time it first forms, so the
                // clock reads as Unix milliseconds; after that no wall clock is read.
                let base = if high == 0 { wall_clock_ms() } else { high };
                let o = Office {
                    term,
                    base,
                    since: mono,
                };
                tracing::info!(term, base, "cluster clock: taking office");
                *office = Some(o);
                o
            }
        };
        let elapsed = mono.saturating_duration_since(current.since);
        current
            .base
            .saturating_add(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Unix milliseconds by this node's wall clock. Read only to start a new cluster's
/// clock and to turn client-given absolute times into durations (SPEC.md "Time").
pub fn wall_clock_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_starts_at_the_log_high_and_follows_the_monotonic_clock() {
        let c = LeaderClock::default();
        let s1 = c.stamp(3, || 1_000_000);
        assert!((1_000_000..1_000_050).contains(&s1), "{s1}");
        std::thread::sleep(std::time::Duration::from_millis(30));
        // The log high is asked only once per term: a later, larger one is ignored.
        let s2 = c.stamp(3, || panic!("asked twice in one term"));
        assert!(s2 >= s1 + 30 && s2 < s1 + 200, "{s1} {s2}");
    }

    #[test]
    fn a_new_term_restarts_from_the_log_not_from_the_last_stamp() {
        let c = LeaderClock::default();
        let s1 = c.stamp(1, || 5_000);
        // Leadership lost and regained: entries of the old term were cut from the log.
        let s2 = c.stamp(4, || 4_000);
        assert!(s1 >= 5_000 && (4_000..4_050).contains(&s2), "{s1} {s2}");
    }

    /// One step of a simulated cluster for the property test below.
    #[derive(Debug, Clone)]
    enum Step {
        /// Real time passes.
        Wait(u16),
        /// Node `n` wins an election (a new term).
        Elect(usize),
        /// The leader proposes an entry and sends its log to some followers (a bit set).
        Propose(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u16..5_000).prop_map(Step::Wait),
            (0usize..3).prop_map(Step::Elect),
            any::<u8>().prop_map(Step::Propose),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever the elections, losses and truncations, every log any node holds has
        /// stamps that never decrease, and no two of its entries are further apart in
        /// stamps than in the real time between their proposals: that is what lets a
        /// lease granted at one stamp last its TTL in real time. Applying any such log
        /// moves the state machine's time forward only.
        #[test]
        fn stamps_along_any_log_never_outrun_real_time(steps in proptest::collection::vec(step(), 1..200)) {
            let origin = Instant::now();
            let clocks: Vec<LeaderClock> = (0..3).map(|_| LeaderClock::default()).collect();
            // Each node's log: (stamp, real ms when proposed).
            let mut logs: Vec<Vec<(Millis, u64)>> = vec![Vec::new(); 3];
            let (mut real, mut term, mut leader) = (0u64, 0u64, None::<usize>);
            for s in steps {
                match s {
                    Step::Wait(ms) => real += u64::from(ms),
                    Step::Elect(n) => {
                        term += 1;
                        leader = Some(n);
                    }
                    Step::Propose(to) => {
                        let Some(l) = leader else { continue };
                        let high = logs[l].iter().map(|e| e.0).max().unwrap_or(0);
                        let mono = origin + std::time::Duration::from_millis(real);
                        let stamp = clocks[l].stamp_at(term, mono, || high.max(1));
                        logs[l].push((stamp, real));
                        for f in (0..3).filter(|f| *f != l && to & (1 << f) != 0) {
                            logs[f] = logs[l].clone();
                        }
                    }
                }
            }
            for log in &logs {
                for pair in log.windows(2) {
                    let ((s1, t1), (s2, t2)) = (pair[0], pair[1]);
                    prop_assert!(s2 >= s1, "stamps went backwards: {log:?}");
                    prop_assert!(s2 - s1 <= t2 - t1, "stamps outran real time: {log:?}");
                }
                let mut sm = crate::sm::StateMachine::new();
                let mut last = 0;
                for (i, (stamp, _)) in log.iter().enumerate() {
                    let req = crate::sm::Request { time: *stamp, op: crate::sm::Op::Tick };
                    sm.apply(i as u64 + 1, &req, &mut Vec::new());
                    prop_assert!(sm.now() >= last);
                    last = sm.now();
                }
            }
        }
    }

    #[test]
    fn an_empty_cluster_starts_at_wall_time() {
        let c = LeaderClock::default();
        let before = wall_clock_ms();
        let s = c.stamp(1, || 0);
        assert!(s >= before && s < before + 1_000, "{before} {s}");
    }
}
