//! Drives N concurrent clients, one connection each, through warm-up and a timed window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::workload::{Client, Plan};

/// Latencies are kept in microseconds up to a minute.
const MAX_US: u64 = 60_000_000;

/// How long and how wide.
#[derive(Debug, Clone, Copy)]
pub struct RunConfig {
    /// Concurrent clients, each with its own connection.
    pub clients: usize,
    /// Ops before this are not counted (connections warm, allocators settled).
    pub warmup: Duration,
    /// The measured window.
    pub measure: Duration,
}

/// What one run did in the measured window.
pub struct Stats {
    /// Completed ops.
    pub ops: u64,
    /// Ops with an unexpected reply.
    pub failed: u64,
    /// The first unexpected reply seen.
    pub first_error: Option<String>,
    /// Per-op latency in microseconds.
    pub hist: Histogram<u64>,
    /// Length of the measured window in seconds.
    pub seconds: f64,
    /// Every op completed from the first to the last (warm-up and stragglers too):
    /// what the servers' CPU time over the whole run is divided by.
    pub all_ops: u64,
}

impl Stats {
    fn empty(seconds: f64) -> Result<Stats> {
        Ok(Stats {
            ops: 0,
            failed: 0,
            first_error: None,
            hist: Histogram::new_with_bounds(1, MAX_US, 3)?,
            seconds,
            all_ops: 0,
        })
    }
}

/// Runs `plan` against `addr` and merges every client's counts.
pub async fn run(plan: Arc<Plan>, addr: SocketAddr, cfg: RunConfig) -> Result<Stats> {
    // Connect everyone first so connection set-up (and etcd's lease grants) falls outside every window.
    let mut clients = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        clients.push(plan.connect(addr).await?);
    }
    let warm_end = Instant::now() + cfg.warmup;
    let end = warm_end + cfg.measure;
    let mut tasks = Vec::with_capacity(cfg.clients);
    for (id, c) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(client(Arc::clone(&plan), c, id, warm_end, end)));
    }
    let mut total = Stats::empty(cfg.measure.as_secs_f64())?;
    let mut first_err = None;
    let mut finished = Vec::with_capacity(cfg.clients);
    for t in tasks {
        // Wait for every task even after one fails, so no client outlives the run.
        match t.await.context("client task panicked")? {
            Ok((s, c)) => {
                total.ops += s.ops;
                total.all_ops += s.all_ops;
                total.failed += s.failed;
                total.hist.add(&s.hist)?;
                if total.first_error.is_none() {
                    total.first_error = s.first_error;
                }
                finished.push(c);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let revokes: Vec<_> = finished
        .into_iter()
        .map(|c| {
            let plan = Arc::clone(&plan);
            tokio::spawn(async move { plan.disconnect(c).await })
        })
        .collect();
    for r in revokes {
        // A lease left behind only expires on its own; not worth failing the run for.
        let _ = r.await;
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// One client: counts only batches that start after warm-up and finish inside the window.
async fn client(
    plan: Arc<Plan>,
    mut conn: Client,
    id: usize,
    warm_end: Instant,
    end: Instant,
) -> Result<(Stats, Client)> {
    let owner = format!("client-{id}").into_bytes();
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut s = Stats::empty(0.0)?;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            return Ok((s, conn));
        }
        let b = plan
            .batch(&mut conn, &owner, &mut rng)
            .await
            .with_context(|| format!("client {id}"))?;
        let t1 = Instant::now();
        s.all_ops += b.ok + b.failed;
        if t0 < warm_end || t1 > end {
            continue;
        }
        // Every op of a pipelined batch waited for the whole batch.
        let us = u64::try_from((t1 - t0).as_micros()).unwrap_or(MAX_US).clamp(1, MAX_US);
        s.hist.record_n(us, b.ok)?;
        s.ops += b.ok;
        s.failed += b.failed;
        if s.first_error.is_none() {
            s.first_error = b.first_error;
        }
    }
}
