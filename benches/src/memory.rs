//! Memory with many locks held: fill a target with distinct long-lived locks, then read each
//! server process's resident set from /proc. Every node of a cluster holds the whole state,
//! so every node is reported. The same fill prefills a target before its workloads
//! (`--prefill-locks`), so they run against a large state machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::resp::{Conn, Reply};
use crate::targets::{self, Running};
use crate::workload::Dialect;

/// Connections the fill uses, and commands each keeps in one write.
const FILL_CONNS: usize = 8;
const FILL_DEPTH: usize = 256;
/// Held locks outlive the measurement by far.
const TTL_MS: &[u8] = b"3600000";

/// One server process's memory.
#[derive(Debug, Serialize)]
pub struct NodeMem {
    /// `node-1`, `redis`, ...
    pub node: String,
    /// VmRSS before the fill, MiB.
    pub rss_idle_mib: f64,
    /// VmRSS with every lock held, MiB.
    pub rss_mib: f64,
    /// VmHWM (peak resident set so far), MiB: snapshots or rehashing may peak above the steady state.
    pub peak_mib: f64,
}

/// One target filled with `locks` locks.
#[derive(Debug, Serialize)]
pub struct MemRow {
    pub target: String,
    pub locks: u64,
    /// The command that held each lock.
    pub command: String,
    /// Wall time of the pipelined fill (replies included; followers may still be applying).
    pub fill_seconds: f64,
    /// Locks actually granted: the figure the RSS stands for.
    pub held: u64,
    /// Names that never got a grant.
    pub failed: u64,
    /// `-CLUSTERDOWN` / `-UNCERTAIN` replies that were retried (a leader change during the fill).
    pub retries: u64,
    /// The first error reply seen, retried or not.
    pub first_error: Option<String>,
    pub nodes: Vec<NodeMem>,
}

/// Fills `target` (freshly started) and reads every process's memory.
pub async fn measure(target: &mut Running, locks: u64) -> Result<MemRow> {
    let dialect = target.kind.dialect();
    if dialect == Dialect::Etcd {
        bail!("memory is measured on RESP targets only");
    }
    // Idle memory after a short settle, so start-up allocations are in both figures.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle: Vec<f64> = target
        .procs
        .iter()
        .map(|p| proc_status_mib(p.pid(), "VmRSS"))
        .collect::<Result<_>>()?;
    let t0 = Instant::now();
    let filled = fill(target, dialect, locks).await?;
    let fill_seconds = t0.elapsed().as_secs_f64();
    // Every fencepost target, whichever dialect drives it, has followers to wait for.
    if target.kind.name().starts_with("fencepost") {
        wait_applied(target).await?;
    }
    target.check_alive()?;
    let mut nodes = Vec::new();
    for (p, idle) in target.procs.iter().zip(idle) {
        nodes.push(NodeMem {
            node: p.name.clone(),
            rss_idle_mib: idle,
            rss_mib: proc_status_mib(p.pid(), "VmRSS")?,
            peak_mib: proc_status_mib(p.pid(), "VmHWM")?,
        });
    }
    Ok(MemRow {
        target: target.kind.name().to_string(),
        locks,
        command: command(dialect).into(),
        fill_seconds,
        held: locks - filled.failed,
        failed: filled.failed,
        retries: filled.retries,
        first_error: filled.first_error,
        nodes,
    })
}

/// A target filled before its workloads (`--prefill-locks`).
#[derive(Debug, Serialize)]
pub struct PrefillRow {
    pub target: String,
    pub locks: u64,
    /// The command that held each lock.
    pub command: String,
    /// Wall time of the pipelined fill (replies included).
    pub fill_seconds: f64,
    /// From the fill's start until every node had applied everything (fencepost targets).
    pub applied_seconds: f64,
    /// Locks actually granted, held through every workload (TTL one hour).
    pub held: u64,
    pub failed: u64,
    pub retries: u64,
    pub first_error: Option<String>,
}

/// Fills `target` with `lock0..lock{locks-1}` (the names no workload uses) and waits until
/// every fencepost node applied them.
pub async fn prefill(target: &mut Running, locks: u64) -> Result<PrefillRow> {
    let dialect = target.kind.dialect();
    if dialect == Dialect::Etcd {
        bail!("prefill is done on RESP targets only");
    }
    let t0 = Instant::now();
    let filled = fill(target, dialect, locks).await?;
    let fill_seconds = t0.elapsed().as_secs_f64();
    if target.kind.name().starts_with("fencepost") {
        wait_applied(target).await?;
    }
    target.check_alive()?;
    Ok(PrefillRow {
        target: target.kind.name().to_string(),
        locks,
        command: command(dialect).into(),
        fill_seconds,
        applied_seconds: t0.elapsed().as_secs_f64(),
        held: locks - filled.failed,
        failed: filled.failed,
        retries: filled.retries,
        first_error: filled.first_error,
    })
}

/// The fill's command, for the report.
fn command(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Redis => "SET lockN owner PX 3600000",
        _ => "LOCK ACQUIRE lockN owner 3600000",
    }
}

/// What the fill got back.
#[derive(Default)]
struct Filled {
    failed: u64,
    retries: u64,
    first_error: Option<String>,
}

/// Tries one name gets before it counts as failed (a leader election takes well under this).
const FILL_ATTEMPTS: u32 = 100;

/// Acquires `lock0..lock{locks-1}` over FILL_CONNS pipelined connections. `-CLUSTERDOWN` (not
/// applied) and `-UNCERTAIN` (re-acquiring with the same owner is idempotent) are retried,
/// so that a leader change during the fill does not leave the figure short of locks.
async fn fill(target: &Running, dialect: Dialect, locks: u64) -> Result<Filled> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..FILL_CONNS {
        let mut c = Conn::connect(target.addr).await?;
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut f = Filled::default();
            loop {
                // Claim the next block of names; blocks keep each write at FILL_DEPTH commands.
                let start = next.fetch_add(FILL_DEPTH as u64, std::sync::atomic::Ordering::Relaxed);
                if start >= locks {
                    return anyhow::Ok(f);
                }
                let mut pending: Vec<u64> = (start..(start + FILL_DEPTH as u64).min(locks)).collect();
                for attempt in 1..=FILL_ATTEMPTS {
                    for i in &pending {
                        let name = format!("lock{i}");
                        match dialect {
                            Dialect::Redis => c.push(&[b"SET", name.as_bytes(), b"owner", b"PX", TTL_MS]),
                            _ => c.push(&[b"LOCK", b"ACQUIRE", name.as_bytes(), b"owner", TTL_MS]),
                        }
                    }
                    c.flush().await?;
                    let mut again = Vec::new();
                    for &i in &pending {
                        match c.read().await? {
                            Reply::Int(t) if t > 0 => {}
                            Reply::Simple(s) if s == "OK" => {}
                            Reply::Error(e)
                                if (e.starts_with("CLUSTERDOWN") || e.starts_with("UNCERTAIN"))
                                    && attempt < FILL_ATTEMPTS =>
                            {
                                f.first_error.get_or_insert(e);
                                again.push(i);
                            }
                            r => {
                                f.first_error.get_or_insert(format!("{r:?}"));
                                f.failed += 1;
                            }
                        }
                    }
                    if again.is_empty() {
                        break;
                    }
                    f.retries += again.len() as u64;
                    pending = again;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    let mut total = Filled::default();
    for t in tasks {
        let f = t.await.context("fill task panicked")??;
        total.failed += f.failed;
        total.retries += f.retries;
        if total.first_error.is_none() {
            total.first_error = f.first_error;
        }
    }
    Ok(total)
}

/// Waits until every node has applied everything any node knows committed, so followers
/// hold it all too (the leader may have moved during the fill, so no one node is asked).
async fn wait_applied(target: &Running) -> Result<()> {
    let mut conns = Vec::new();
    let mut commit = 0;
    for p in &target.procs {
        let mut c = Conn::connect(p.addr).await?;
        let info = targets::raft_info(&mut c).await?;
        commit = commit.max(targets::int_field(&info, "commit-index").unwrap_or(0));
        conns.push((p.name.as_str(), c));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for (name, c) in &mut conns {
        loop {
            let info = targets::raft_info(c).await?;
            let applied = targets::int_field(&info, "applied-index").unwrap_or(0);
            if applied >= commit {
                break;
            }
            if Instant::now() > deadline {
                bail!("{name} applied {applied} of {commit} within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// A `kB` field of /proc/<pid>/status, in MiB.
fn proc_status_mib(pid: u32, field: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_kb(&text, field)
        .map(|kb| kb as f64 / 1024.0)
        .with_context(|| format!("{path}: no {field}"))
}

fn parse_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k != field {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_kb_fields() {
        let s = "Name:\tfencepost\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(super::parse_kb(s, "VmRSS"), Some(102400));
        assert_eq!(super::parse_kb(s, "VmHWM"), Some(204800));
        assert_eq!(super::parse_kb(s, "VmSwap"), None);
    }
}
