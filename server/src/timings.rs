//! Where a replicated write's time goes, as cumulative counters for `INFO latency`:
//! the leader's commit of a batch, WAL fsyncs, replication round trips and the
//! follower's side of them. Read twice and subtract to get averages over a window
//! (the bench does this to say what bounds throughput).
//!
//! Process-wide statics rather than a handle threaded through every layer: one node
//! runs per process, the recorders sit in four unrelated places (proposer, WAL writer
//! thread, Raft network, peer server), and recording is two relaxed atomic adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::metrics::Histogram;

/// One kind of timed step: how many, their total duration, the items they carried, and
/// their distribution (for `/metrics`).
pub struct Timer {
    count: AtomicU64,
    total_us: AtomicU64,
    items: AtomicU64,
    pub histogram: Histogram,
}

impl Timer {
    const fn new() -> Timer {
        Timer {
            count: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            items: AtomicU64::new(0),
            histogram: Histogram::new(),
        }
    }

    /// Records one step that started at `since` and carried `items` (ops, entries...).
    pub fn record(&self, since: Instant, items: u64) {
        let took = since.elapsed();
        self.histogram.observe(took);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.items.fetch_add(items, Ordering::Relaxed);
    }

    /// `(count, total µs, items)` so far.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.total_us.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
        )
    }
}

/// Leader: a batch of client operations from proposal to applied (items: operations).
pub static COMMIT: Timer = Timer::new();
/// Every node: one WAL fsync (items: appends it made durable).
pub static WAL_FSYNC: Timer = Timer::new();
/// Leader: one AppendEntries round trip to a follower (items: entries sent).
pub static REPLICATION_RPC: Timer = Timer::new();
/// Follower: serving one AppendEntries, fsync included (items: entries received).
pub static FOLLOWER_APPEND: Timer = Timer::new();

/// `INFO latency` lines: `<name>_count`, `<name>_total_us`, `<name>_items` per timer.
pub fn info_lines() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, timer) in [
        ("commit", &COMMIT),
        ("wal_fsync", &WAL_FSYNC),
        ("replication_rpc", &REPLICATION_RPC),
        ("follower_append", &FOLLOWER_APPEND),
    ] {
        let (count, total_us, items) = timer.read();
        out.push((format!("{name}_count"), count.to_string()));
        out.push((format!("{name}_total_us"), total_us.to_string()));
        out.push((format!("{name}_items"), items.to_string()));
    }
    out
}
