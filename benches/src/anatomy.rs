//! Where a fencepost write's time went during one run: every node's `INFO latency`
//! counters are read before and after, and the differences give the averages of the run
//! (warm-up included). This is the evidence for what bounds throughput: the leader's
//! fsync, the replication round trip (the follower's fsync inside it), and the rest.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::resp::Conn;

/// One node's cumulative counters: `<timer>_{count,total_us,items}`.
#[derive(Debug, Clone, Default)]
pub struct Counters(HashMap<String, u64>);

/// Reads `INFO latency` from every node (in `addrs` order).
pub async fn read_all(addrs: &[SocketAddr]) -> Result<Vec<Counters>> {
    let mut out = Vec::new();
    for &a in addrs {
        let mut c = Conn::connect(a).await?;
        let reply = c.call(&[b"INFO", b"latency"]).await?;
        let Some(text) = reply.text().map(|b| String::from_utf8_lossy(b).into_owned()) else {
            bail!("INFO latency from {a}: {reply:?}");
        };
        let map = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter_map(|(k, v)| Some((k.trim().to_string(), v.trim().parse().ok()?)))
            .collect();
        out.push(Counters(map));
    }
    Ok(out)
}

/// One timer over a window: how many steps, their mean, items per step.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Step {
    pub count: u64,
    pub avg_us: f64,
    pub items_per: f64,
}

fn step(before: &Counters, after: &Counters, timer: &str) -> Option<Step> {
    let d = |k: &str| {
        let key = format!("{timer}_{k}");
        Some(after.0.get(&key)?.saturating_sub(*before.0.get(&key)?))
    };
    let count = d("count")?;
    if count == 0 {
        return None;
    }
    Some(Step {
        count,
        avg_us: d("total_us")? as f64 / count as f64,
        items_per: d("items")? as f64 / count as f64,
    })
}

/// The run's averages, leader and followers apart.
#[derive(Debug, Clone, Serialize)]
pub struct Anatomy {
    /// Leader: a batch from proposal to applied (items: operations per Raft entry).
    pub leader_commit: Option<Step>,
    /// Leader: WAL fsync (blocking openraft's core loop in 0.9).
    pub leader_fsync: Option<Step>,
    /// Leader: AppendEntries round trip to one follower (items: entries per RPC).
    pub replication_rpc: Option<Step>,
    /// Followers, pooled: serving one AppendEntries, fsync included.
    pub follower_append: Option<Step>,
    /// Followers, pooled: WAL fsync.
    pub follower_fsync: Option<Step>,
    /// Share of the window the leader's core spent in its own fsyncs (openraft 0.9's core
    /// loop waits for them).
    pub leader_fsync_busy: Option<f64>,
    /// Share of the window each follower's AppendEntries stream had a request in flight
    /// (openraft 0.9 keeps one in flight per follower): near 1, replication is the bottleneck.
    pub replication_busy: Option<f64>,
}

/// Differences between two reads of the same nodes, `seconds` apart; `leader` indexes the
/// leader's node.
pub fn window(before: &[Counters], after: &[Counters], leader: usize, seconds: f64) -> Anatomy {
    let pooled = |timer: &str| {
        let mut sum = Counters::default();
        let mut start = Counters::default();
        for (i, (b, a)) in before.iter().zip(after).enumerate() {
            if i == leader {
                continue;
            }
            for (k, v) in &a.0 {
                *sum.0.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &b.0 {
                *start.0.entry(k.clone()).or_default() += v;
            }
        }
        step(&start, &sum, timer)
    };
    let (lb, la) = (&before[leader], &after[leader]);
    let followers = before.len().saturating_sub(1) as f64;
    let busy = |s: Option<Step>, streams: f64| {
        s.filter(|_| seconds > 0.0 && streams > 0.0)
            .map(|s| s.count as f64 * s.avg_us / 1e6 / streams / seconds)
    };
    let leader_fsync = step(lb, la, "wal_fsync");
    let replication_rpc = step(lb, la, "replication_rpc");
    Anatomy {
        leader_commit: step(lb, la, "commit"),
        leader_fsync,
        replication_rpc,
        follower_append: pooled("follower_append"),
        follower_fsync: pooled("wal_fsync"),
        leader_fsync_busy: busy(leader_fsync, 1.0),
        replication_busy: busy(replication_rpc, followers),
    }
}

impl Anatomy {
    /// One line: `commit 1.67 ms (15.2 ops/entry) = leader fsync 0.29 ms + ...`.
    pub fn summary(&self) -> String {
        let ms = |s: &Option<Step>| s.map_or("-".to_string(), |s| format!("{:.2} ms", s.avg_us / 1000.0));
        let mut parts = vec![format!(
            "leader commit {}{}",
            ms(&self.leader_commit),
            self.leader_commit
                .map_or(String::new(), |s| format!(" ({:.1} ops/entry)", s.items_per))
        )];
        parts.push(format!("leader fsync {}", ms(&self.leader_fsync)));
        if self.replication_rpc.is_some() {
            parts.push(format!(
                "replication RPC {}{}",
                ms(&self.replication_rpc),
                self.replication_rpc
                    .map_or(String::new(), |s| format!(" ({:.1} entries/RPC)", s.items_per))
            ));
            parts.push(format!("follower append {}", ms(&self.follower_append)));
            parts.push(format!("follower fsync {}", ms(&self.follower_fsync)));
        }
        if let Some(b) = self.replication_busy {
            parts.push(format!("each follower's stream busy {:.0}%", b * 100.0));
        }
        parts.join(", ")
    }
}
