//! Drives N concurrent clients, one connection each, through warm-up and a timed window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::resp::Conn;
use crate::workload::Plan;

/// Latencies are kept in microseconds up to a minute.
const MAX_US: u64 = 60_000_000;

/// How long and how wide.
#[derive(Debug, Clone, Copy)]
pub struct RunConfig {
    /// Concurrent clients, each with its own connection.
    pub clients: usize,
    /// Cycles before this are not counted (connections warm, allocators settled).
    pub warmup: Duration,
    /// The measured window.
    pub measure: Duration,
}

/// What one target did in the measured window.
pub struct Stats {
    /// Completed cycles.
    pub cycles: u64,
    /// Cycles with an unexpected reply.
    pub failed: u64,
    /// The first unexpected reply seen.
    pub first_error: Option<String>,
    /// Per-cycle latency in microseconds.
    pub hist: Histogram<u64>,
    /// Length of the measured window in seconds.
    pub seconds: f64,
}

fn new_hist() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_US, 3)?)
}

/// Runs `plan` against `addr` and merges every client's counts.
pub async fn run(plan: Arc<Plan>, addr: SocketAddr, cfg: RunConfig) -> Result<Stats> {
    // Connect everyone first so connection set-up falls outside every window.
    let mut conns = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        conns.push(Conn::connect(addr).await?);
    }
    let warm_end = Instant::now() + cfg.warmup;
    let end = warm_end + cfg.measure;
    let mut tasks = Vec::with_capacity(cfg.clients);
    for (id, conn) in conns.into_iter().enumerate() {
        tasks.push(tokio::spawn(client(
            Arc::clone(&plan),
            conn,
            id,
            warm_end,
            end,
        )));
    }
    let mut total = Stats {
        cycles: 0,
        failed: 0,
        first_error: None,
        hist: new_hist()?,
        seconds: cfg.measure.as_secs_f64(),
    };
    for t in tasks {
        let s = t.await.context("client task panicked")??;
        total.cycles += s.cycles;
        total.failed += s.failed;
        total.hist.add(&s.hist)?;
        if total.first_error.is_none() {
            total.first_error = s.first_error;
        }
    }
    Ok(total)
}

/// One client: counts only batches that start after warm-up and finish inside the window.
async fn client(
    plan: Arc<Plan>,
    mut conn: Conn,
    id: usize,
    warm_end: Instant,
    end: Instant,
) -> Result<Stats> {
    let owner = format!("client-{id}").into_bytes();
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut s = Stats {
        cycles: 0,
        failed: 0,
        first_error: None,
        hist: new_hist()?,
        seconds: 0.0,
    };
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            return Ok(s);
        }
        let b = plan
            .batch(&mut conn, &owner, &mut rng)
            .await
            .with_context(|| format!("client {id}"))?;
        let t1 = Instant::now();
        if t0 < warm_end || t1 > end {
            continue;
        }
        // Every cycle of a pipelined batch waited for the whole batch.
        let us = u64::try_from((t1 - t0).as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        s.hist.record_n(us, b.ok)?;
        s.cycles += b.ok;
        s.failed += b.failed;
        if s.first_error.is_none() {
            s.first_error = b.first_error;
        }
    }
}
