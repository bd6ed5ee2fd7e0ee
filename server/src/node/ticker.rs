//! The leader's deadline scheduler: proposes a Tick entry when a waiter deadline or a
//! lock expiry with waiters falls due, and (rate-limited) when expired objects can be
//! forgotten. Followers only watch; a new leader picks the deadlines up from its state
//! machine, so hand-offs survive failover.
//!
//! It also carries the clock into the log: a new leader's clock starts at the highest
//! stamp in its log (see `crate::clock`), so while anything can expire, the leader
//! stamps an entry at least every `CLOCK_CARRY`. That bounds how much longer than its
//! TTL a lease lasts across a failover or a restart of the whole cluster.

use openraft::async_runtime::watch::WatchReceiver;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;

use super::Node;
use crate::sm::{Millis, Op};

/// Forgetting expired objects is housekeeping: at most one GC tick per this interval.
const GC_TICK_INTERVAL_MS: Millis = 1_000;
/// While anything can expire, the log's clock lags the leader's by at most this much.
pub const CLOCK_CARRY: Duration = Duration::from_millis(500);

pub async fn run(node: Arc<Node>) {
    let mut deadlines = node.deadlines.clone();
    // Server metrics change on role changes only, not on every apply.
    let mut metrics = node.raft.server_metrics();
    let mut last_gc: Millis = 0;
    loop {
        let d = *deadlines.borrow_and_update();
        let gc_due = d.gc.map(|g| g.max(last_gc + GC_TICK_INTERVAL_MS));
        let target = match (d.waiter, gc_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let leader = metrics.borrow_and_update().state == ServerState::Leader;
        // Remember who leads while one is known, for topology replies in elections.
        node.leader_or_last_known();
        // Something can expire: keep the log's clock within CLOCK_CARRY of ours.
        let carry_due = (leader && (d.waiter.is_some() || d.gc.is_some()))
            .then(|| CLOCK_CARRY.saturating_sub(node.since_last_entry()));
        if carry_due == Some(Duration::ZERO) {
            if let Err(e) = node.write_here(Op::Tick).await {
                tracing::debug!(error = %e, "clock-carrying tick not applied");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        }
        let wait = match target {
            Some(t) if leader => {
                let now = node.stamp();
                if t <= now {
                    if gc_due.is_some_and(|g| g <= now) {
                        last_gc = now;
                    }
                    if let Err(e) = node.write_here(Op::Tick).await {
                        tracing::debug!(error = %e, "tick not applied");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
                Duration::from_millis(t - now)
            }
            _ => Duration::from_secs(3600),
        };
        let wait = carry_due.map_or(wait, |c| c.min(wait));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = deadlines.changed() => if r.is_err() { return },
            r = metrics.changed() => if r.is_err() { return },
        }
    }
}
