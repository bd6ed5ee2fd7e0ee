//! What `/metrics` reports, recorded where the work happens: process-wide statics of
//! relaxed atomics (one node runs per process, as `timings.rs` explains), so recording
//! never takes a lock. Per-command counters sit in a table indexed like the command
//! table, made once; per-peer round-trip histograms are handed out once per peer
//! connection. The HTTP side (`httpd/`) reads them at scrape time.

pub mod histogram;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

pub use histogram::Histogram;

/// One command's outcomes and latency.
#[derive(Default)]
pub struct CommandStats {
    pub ok: AtomicU64,
    pub error: AtomicU64,
    pub seconds: Histogram,
}

/// Outcome of a proposal through Raft.
#[derive(Debug, Clone, Copy)]
pub enum Proposal {
    Ok,
    ClusterDown,
    Uncertain,
}

/// Every counter and histogram the node records.
pub struct Metrics {
    /// Indexed by position in `cmd::table::all()`; the last slot counts unknown names.
    pub commands: Box<[CommandStats]>,
    pub proposals_ok: AtomicU64,
    pub proposals_clusterdown: AtomicU64,
    pub proposals_uncertain: AtomicU64,
    pub leader_changes: AtomicU64,
    pub snapshot_seconds: Histogram,
    pub lock_grants: AtomicU64,
    pub fence_stale: AtomicU64,
    pub ratelimit_limited: AtomicU64,
    pub idemp_replays: AtomicU64,
    /// Commit-only AppendEntries not sent: the next append carried the commit index.
    pub commit_only_merged: AtomicU64,
    peer_rtt: Mutex<BTreeMap<u64, Arc<Histogram>>>,
}

/// Slots of the per-command table: more than the command table has (a unit test of
/// the table checks), the last one for unknown names.
pub const COMMAND_SLOTS: usize = 256;

/// The node's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    commands: (0..COMMAND_SLOTS).map(|_| CommandStats::default()).collect(),
    proposals_ok: AtomicU64::new(0),
    proposals_clusterdown: AtomicU64::new(0),
    proposals_uncertain: AtomicU64::new(0),
    leader_changes: AtomicU64::new(0),
    snapshot_seconds: Histogram::new(),
    lock_grants: AtomicU64::new(0),
    fence_stale: AtomicU64::new(0),
    ratelimit_limited: AtomicU64::new(0),
    idemp_replays: AtomicU64::new(0),
    commit_only_merged: AtomicU64::new(0),
    peer_rtt: Mutex::new(BTreeMap::new()),
});

impl Metrics {
    /// Records one command's reply: its slot (`None`: an unknown name), whether it was
    /// an error, and how long it took.
    pub fn command(&self, slot: Option<usize>, error: bool, took: Duration) {
        let last = COMMAND_SLOTS - 1;
        let Some(s) = self.commands.get(slot.unwrap_or(last).min(last)) else {
            return;
        };
        let counter = if error { &s.error } else { &s.ok };
        counter.fetch_add(1, Ordering::Relaxed);
        s.seconds.observe(took);
    }

    /// Records one proposal's outcome.
    pub fn proposal(&self, p: Proposal) {
        let c = match p {
            Proposal::Ok => &self.proposals_ok,
            Proposal::ClusterDown => &self.proposals_clusterdown,
            Proposal::Uncertain => &self.proposals_uncertain,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The round-trip histogram of replication to `peer`, made on first use (once per
    /// peer connection, not per message).
    pub fn peer_rtt(&self, peer: u64) -> Arc<Histogram> {
        let mut m = self.peer_rtt.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(peer).or_default().clone()
    }

    /// Every peer's round-trip histogram.
    pub fn peer_rtts(&self) -> Vec<(u64, Arc<Histogram>)> {
        let m = self.peer_rtt.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
}

/// A moment on this process's monotonic clock, stored in one atomic (milliseconds since
/// the first use; 0: never).
pub struct Stamp(AtomicU64);

static EPOCH: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);

impl Default for Stamp {
    fn default() -> Stamp {
        Stamp::new()
    }
}

impl Stamp {
    pub const fn new() -> Stamp {
        Stamp(AtomicU64::new(0))
    }

    /// Records now.
    pub fn touch(&self) {
        let ms = u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
        self.0.store(ms, Ordering::Relaxed);
    }

    /// How long ago it was last touched, if ever.
    pub fn age(&self) -> Option<Duration> {
        let at = self.0.load(Ordering::Relaxed);
        (at > 0).then(|| EPOCH.elapsed().saturating_sub(Duration::from_millis(at)))
    }
}

/// When this node last received replication (entries or a heartbeat) from a leader:
/// what `/readyz` asks of a follower.
pub static LEADER_CONTACT: Stamp = Stamp::new();

/// Whether `/metrics` is served (`--metrics-addr`): per-command timing is only taken
/// then, so a node without it pays nothing for it.
pub static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether per-command metrics are being recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Adds one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
