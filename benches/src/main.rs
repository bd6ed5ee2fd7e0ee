//! fencepost-bench: measures fencepost beside redis-server on this machine, one target at a time.

mod machine;
mod report;
mod resp;
mod runner;
mod targets;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Parser;

use crate::machine::Machine;
use crate::report::{Report, Row};
use crate::runner::RunConfig;
use crate::targets::{TargetKind, TargetOpts};
use crate::workload::{Plan, Workload};

/// Load generator: starts each target on loopback, drives N clients, reports throughput and latency.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The fencepost server binary (required when fencepost is a target).
    #[arg(long)]
    fencepost_bin: Option<PathBuf>,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Length of the measured window per target.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before the window, not counted.
    #[arg(long, default_value_t = 1)]
    warmup_seconds: u64,
    /// Cycles each client sends per round trip.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Targets to measure, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "redis-always,redis-none,fencepost"
    )]
    targets: Vec<TargetKind>,
    /// Workload to run.
    #[arg(long, value_enum, default_value = "lock-cycle")]
    workload: Workload,
    /// redis-server binary (installed with apt-get when it is the default and missing).
    #[arg(long, default_value = "redis-server")]
    redis_bin: String,
    /// Parent dir for the targets' temp data dirs (keep them on one filesystem for fairness).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.clients == 0 || cli.seconds == 0 {
        bail!("--clients and --seconds must be positive");
    }
    if cli.targets.contains(&TargetKind::Fencepost) {
        match &cli.fencepost_bin {
            Some(b) if b.is_file() => {}
            Some(b) => bail!("--fencepost-bin {} does not exist", b.display()),
            None => bail!(
                "--fencepost-bin is required for target fencepost (or drop it from --targets)"
            ),
        }
    }
    let wants_redis = cli
        .targets
        .iter()
        .any(|t| t.dialect() == workload::Dialect::Redis);
    let redis_version = if wants_redis {
        Some(targets::ensure_redis(&cli.redis_bin)?)
    } else {
        None
    };
    let opts = TargetOpts {
        fencepost_bin: cli.fencepost_bin.clone(),
        redis_bin: cli.redis_bin.clone(),
        data_root: cli.data_root.clone(),
    };
    let cfg = RunConfig {
        clients: cli.clients,
        warmup: Duration::from_secs(cli.warmup_seconds),
        measure: Duration::from_secs(cli.seconds),
    };

    let load = machine::loadavg();
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    for &kind in &cli.targets {
        eprintln!("{}: starting", kind.name());
        match measure(kind, &opts, &cli, cfg).await {
            Ok(row) => {
                eprintln!("{}: {:.0} cycles/s", kind.name(), row.cycles_per_sec);
                rows.push(row);
            }
            Err(e) => {
                eprintln!("{}: failed: {e:#}", kind.name());
                failures.push((kind.name().to_string(), format!("{e:#}")));
            }
        }
    }

    let report = Report::new(Machine::detect(redis_version, load), rows, failures);
    report.print();
    if let Some(path) = &cli.json {
        report.write_json(path)?;
    }
    if !report.failures.is_empty() {
        bail!("{} target(s) failed", report.failures.len());
    }
    Ok(())
}

/// Starts one target, runs the workload against it, and stops it (dropping `server` kills it).
async fn measure(kind: TargetKind, opts: &TargetOpts, cli: &Cli, cfg: RunConfig) -> Result<Row> {
    let server = targets::start(kind, opts).await?;
    let plan =
        Arc::new(Plan::prepare(cli.workload, kind.dialect(), cli.pipeline, server.addr).await?);
    let stats = runner::run(Arc::clone(&plan), server.addr, cfg).await?;
    Ok(Row::new(
        kind.name(),
        cli.workload.name(),
        cli.clients,
        plan.pipeline(),
        &stats,
    ))
}
