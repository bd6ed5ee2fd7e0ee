//! `/metrics`: one prometheus-client collector that reads, at scrape time, the atomics
//! the work recorded (`metrics/`, `timings.rs`), Raft's own metrics and the state
//! machine's per-kind counts. Label values are bounded: command names come from the
//! command table, peers are member ids, kinds a fixed list; keys never appear.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use openraft::async_runtime::watch::WatchReceiver;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::cmd::table;
use crate::context::ServerCtx;
use crate::metrics::{Histogram, METRICS};
use crate::node::Node;

/// The registry `/metrics` encodes.
pub fn registry(ctx: Arc<ServerCtx>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(NodeCollector { ctx }));
    r
}

/// The exposition text.
pub fn render(r: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(32 * 1024);
    prometheus_client::encoding::text::encode(&mut out, r)?;
    Ok(out)
}

/// Counts leader changes this node sees (`fencepost_raft_leader_changes_total`).
pub async fn count_leader_changes(node: Arc<Node>) {
    let mut rx = node.raft.metrics();
    let mut last = rx.borrow_watched().current_leader;
    while rx.changed().await.is_ok() {
        let now = rx.borrow_watched().current_leader;
        if now.is_some() && now != last {
            crate::metrics::inc(&METRICS.leader_changes);
        }
        last = now;
    }
}

struct NodeCollector {
    ctx: Arc<ServerCtx>,
}

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCollector")
    }
}

type Enc<'a> = DescriptorEncoder<'a>;
type R = Result<(), std::fmt::Error>;

fn gauge(e: &mut Enc<'_>, name: &str, help: &str, v: f64) -> R {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

/// `name` without `_total`: the encoder adds it to counters.
fn counter(e: &mut Enc<'_>, name: &str, help: &str, v: u64) -> R {
    e.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn histogram(e: &mut Enc<'_>, name: &str, help: &str, h: &Histogram) -> R {
    let (sum, count, buckets) = h.snapshot();
    e.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> R {
        let ctx = &self.ctx;
        let node = &ctx.node;
        let m = node.raft.metrics().borrow_watched().clone();
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        gauge(
            &mut e,
            "fencepost_raft_has_leader",
            "Whether this node knows a leader",
            flag(m.current_leader.is_some()),
        )?;
        gauge(
            &mut e,
            "fencepost_raft_is_leader",
            "Whether this node leads",
            flag(m.current_leader == Some(node.id)),
        )?;
        gauge(
            &mut e,
            "fencepost_raft_term",
            "The current Raft term",
            m.current_term as f64,
        )?;
        counter(
            &mut e,
            "fencepost_raft_leader_changes",
            "Times this node saw a new leader",
            METRICS.leader_changes.load(Ordering::Relaxed),
        )?;
        let index = |l: Option<crate::raft::types::LogId>| l.map_or(0.0, |l| l.index as f64);
        gauge(
            &mut e,
            "fencepost_raft_commit_index",
            "Highest log index known committed",
            index(m.local_committed),
        )?;
        gauge(
            &mut e,
            "fencepost_raft_applied_index",
            "Highest log index applied",
            index(m.last_applied),
        )?;
        {
            let mut f = e.encode_descriptor(
                "fencepost_raft_proposals",
                "Writes this node's clients sent through Raft, by outcome",
                None,
                MetricType::Counter,
            )?;
            for (result, c) in [
                ("ok", &METRICS.proposals_ok),
                ("clusterdown", &METRICS.proposals_clusterdown),
                ("uncertain", &METRICS.proposals_uncertain),
            ] {
                f.encode_family(&[("result", result)])?
                    .encode_counter::<NoLabelSet, _, u64>(&c.load(Ordering::Relaxed), None)?;
            }
        }
        histogram(
            &mut e,
            "fencepost_raft_commit_seconds",
            "Leader: a batch from proposal to applied",
            &crate::timings::COMMIT.histogram,
        )?;
        histogram(
            &mut e,
            "fencepost_wal_fsync_seconds",
            "One WAL fsync",
            &crate::timings::WAL_FSYNC.histogram,
        )?;
        {
            let mut f = e.encode_descriptor(
                "fencepost_peer_rtt_seconds",
                "Leader: one AppendEntries round trip, by follower",
                None,
                MetricType::Histogram,
            )?;
            for (peer, h) in METRICS.peer_rtts() {
                let (sum, count, buckets) = h.snapshot();
                let peer = peer.to_string();
                f.encode_family(&[("peer", peer.as_str())])?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        histogram(
            &mut e,
            "fencepost_snapshot_seconds",
            "Building one snapshot",
            &METRICS.snapshot_seconds,
        )?;
        // Upper case, as commands are written in docs and as Redis names them in
        // COMMAND DOCS; "UNKNOWN" counts names that are not commands.
        let seen: Vec<(String, &crate::metrics::CommandStats)> = table::all()
            .zip(METRICS.commands.iter())
            .map(|(entry, s)| (entry.name().to_ascii_uppercase(), s))
            .chain(METRICS.commands.last().map(|s| ("UNKNOWN".to_string(), s)))
            .filter(|(_, s)| s.ok.load(Ordering::Relaxed) + s.error.load(Ordering::Relaxed) > 0)
            .collect();
        {
            let mut f = e.encode_descriptor(
                "fencepost_commands",
                "Commands this node answered, by name and outcome",
                None,
                MetricType::Counter,
            )?;
            for (name, s) in &seen {
                for (result, c) in [("ok", &s.ok), ("error", &s.error)] {
                    f.encode_family(&[("command", name.as_str()), ("result", result)])?
                        .encode_counter::<NoLabelSet, _, u64>(&c.load(Ordering::Relaxed), None)?;
                }
            }
        }
        {
            let mut f = e.encode_descriptor(
                "fencepost_command_seconds",
                "Time from a command's arrival to its reply, by name",
                None,
                MetricType::Histogram,
            )?;
            for (name, s) in &seen {
                let (sum, count, buckets) = s.seconds.snapshot();
                f.encode_family(&[("command", name.as_str())])?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        gauge(
            &mut e,
            "fencepost_clients",
            "Connected clients",
            ctx.clients.len() as f64,
        )?;
        let kinds = node.sm.read().sm.kind_counts();
        {
            let mut f = e.encode_descriptor("fencepost_keys", "Stored objects by kind", None, MetricType::Gauge)?;
            for (kind, n) in kinds {
                f.encode_family(&[("kind", kind)])?.encode_gauge(&(n as f64))?;
            }
        }
        gauge(
            &mut e,
            "fencepost_lock_waiters",
            "Clients of this node waiting in a LOCK or SEMAPHORE queue",
            node.waiters.blocked() as f64,
        )?;
        for (name, help, c) in [
            (
                "fencepost_lock_grants",
                "LOCK grants this node answered",
                &METRICS.lock_grants,
            ),
            (
                "fencepost_fence_stale",
                "FENCE writes refused as stale",
                &METRICS.fence_stale,
            ),
            (
                "fencepost_ratelimit_limited",
                "Rate-limited calls (TOKENBUCKET, CL.THROTTLE, RATELIMIT)",
                &METRICS.ratelimit_limited,
            ),
            (
                "fencepost_idemp_replays",
                "IDEMP BEGIN answered with a stored response",
                &METRICS.idemp_replays,
            ),
            (
                "fencepost_raft_commit_only_merged",
                "Commit-only AppendEntries this leader did not send because the next append carried the commit index",
                &METRICS.commit_only_merged,
            ),
        ] {
            counter(&mut e, name, help, c.load(Ordering::Relaxed))?;
        }
        let s = &ctx.stats;
        let denied = s.acl_denied_cmd.load(Ordering::Relaxed)
            + s.acl_denied_key.load(Ordering::Relaxed)
            + s.acl_denied_auth.load(Ordering::Relaxed);
        counter(&mut e, "fencepost_acl_denied", "ACL refusals and failed logins", denied)?;
        for (name, help, v, is_counter) in super::process::read() {
            if is_counter {
                e.encode_descriptor(name, help, None, MetricType::Counter)?
                    .encode_counter::<NoLabelSet, f64, f64>(&v, None)?;
            } else {
                gauge(&mut e, name, help, v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct One(Histogram);

    impl Collector for One {
        fn encode(&self, mut e: DescriptorEncoder) -> R {
            histogram(&mut e, "t_seconds", "a test histogram", &self.0)
        }
    }

    #[test]
    fn histograms_encode_cumulative_buckets_ending_at_inf_equal_to_the_count() {
        let h = Histogram::new();
        for us in [10, 60, 60, 5_000_000, 100_000_000] {
            h.observe(std::time::Duration::from_micros(us));
        }
        let mut r = Registry::default();
        r.register_collector(Box::new(One(h)));
        let text = render(&r).expect("renders");
        assert!(text.contains("t_seconds_count 5"), "{text}");
        assert!(text.contains("t_seconds_bucket{le=\"+Inf\"} 5"), "{text}");
        assert!(
            text.contains("t_seconds_bucket{le=\"5e-5\"} 1") || text.contains("t_seconds_bucket{le=\"0.00005\"} 1"),
            "{text}"
        );
        // Cumulative: never above the count, never decreasing.
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("t_seconds_bucket"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]) && counts.iter().all(|&c| c <= 5),
            "{counts:?}"
        );
    }
}
