//! fencepost-bench: measures fencepost (one node and a 3-node cluster) beside redis-server
//! (fsync always / no persistence) and a 3-member etcd, all on loopback on this machine,
//! one target at a time, and writes a table, JSON, and the README's results section.

mod anatomy;
mod etcd;
mod http;
mod install;
mod machine;
mod markdown;
mod memory;
mod readme;
mod report;
mod resp;
mod runner;
mod table;
mod targets;
mod workload;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::machine::{Machine, Versions};
use crate::report::{Report, Row, RunInfo};
use crate::runner::RunConfig;
use crate::targets::{Running, TargetKind, TargetOpts};
use crate::workload::{Dialect, Plan, Workload};

/// Load generator: starts each target on loopback, drives N clients, reports throughput, latency and memory.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The fencepost server binary (required when a fencepost target is measured).
    #[arg(long)]
    fencepost_bin: Option<PathBuf>,
    /// Targets to measure, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fencepost-1,fencepost-3,redis-always,redis-none,etcd-3"
    )]
    targets: Vec<TargetKind>,
    /// Workloads [default: all; --quick: lock-cycle].
    #[arg(long, value_enum, value_delimiter = ',')]
    workloads: Option<Vec<Workload>>,
    /// Client counts, each client with its own connection [default: 1,10,50,200; --quick: 50].
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// Pipeline depths (ops per round trip) [default: 1,16; --quick: 1].
    #[arg(long, value_delimiter = ',')]
    pipelines: Option<Vec<usize>>,
    /// Length of each measured window [default: 3; --quick: 10, as fewer runs can afford steadier figures].
    #[arg(long)]
    seconds: Option<u64>,
    /// Warm-up before each window, not counted [default: 1; --quick: 2].
    #[arg(long)]
    warmup_seconds: Option<u64>,
    /// A ~2 minute run: 50 clients, pipeline 1, lock cycle only, every target, plus the memory fill.
    #[arg(long)]
    quick: bool,
    /// Locks held for the memory figures, 0 to skip.
    #[arg(long, default_value_t = 1_000_000)]
    memory_locks: u64,
    /// Before a target's workloads, fill it with this many distinct long-lived held locks
    /// (the memory fill's commands) and wait until every node applied them, so the
    /// workloads run against a large state machine (and its snapshots). Not done on etcd.
    #[arg(long, default_value_t = 0)]
    prefill_locks: u64,
    /// Extra arguments for every fencepost node, split on whitespace and appended to its
    /// command line, e.g. --fencepost-args "--snapshot-every 50000".
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    fencepost_args: String,
    /// redis-server binary (installed with apt-get when it is the default and missing).
    #[arg(long, default_value = "redis-server")]
    redis_bin: String,
    /// etcd binary (installed with apt-get, package etcd-server, when it is the default and missing).
    #[arg(long, default_value = "etcd")]
    etcd_bin: String,
    /// Parent dir for the targets' temp data dirs (keep them on one filesystem for fairness).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Where results.json and results.md go.
    #[arg(long, default_value = "benches/results")]
    out_dir: PathBuf,
    /// Also replace the README section between the bench markers.
    #[arg(long)]
    readme: Option<PathBuf>,
}

/// The sweep after --quick and defaults are applied.
struct Sweep {
    workloads: Vec<Workload>,
    clients: Vec<usize>,
    pipelines: Vec<usize>,
    seconds: u64,
    warmup_seconds: u64,
}

impl Cli {
    fn sweep(&self) -> Sweep {
        let (w, c, p, secs, warm) = if self.quick {
            (vec![Workload::LockCycle], vec![50], vec![1], 10, 2)
        } else {
            (Workload::ALL.to_vec(), vec![1, 10, 50, 200], vec![1, 16], 3, 1)
        };
        Sweep {
            workloads: self.workloads.clone().unwrap_or(w),
            clients: self.clients.clone().unwrap_or(c),
            pipelines: self.pipelines.clone().unwrap_or(p),
            seconds: self.seconds.unwrap_or(secs),
            warmup_seconds: self.warmup_seconds.unwrap_or(warm),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let cli = Cli::parse();
    let sweep = cli.sweep();
    if sweep.seconds == 0 || sweep.clients.contains(&0) || sweep.pipelines.contains(&0) {
        bail!("--seconds, --clients and --pipelines must be positive");
    }
    let load_at_start = machine::loadavg();
    eprintln!("load average at start: {load_at_start} (1/5/15 min)");
    let versions = versions(&cli)?;
    // Probed before any server runs, so the fdatasync figure is the idle disk's.
    let data_dir = cli.data_root.clone().unwrap_or_else(std::env::temp_dir);
    let mut machine = Machine::detect(versions, load_at_start, &data_dir);
    let opts = TargetOpts {
        fencepost_bin: cli.fencepost_bin.clone(),
        redis_bin: cli.redis_bin.clone(),
        etcd_bin: cli.etcd_bin.clone(),
        data_root: cli.data_root.clone(),
        fencepost_args: cli.fencepost_args.split_whitespace().map(String::from).collect(),
    };
    std::fs::create_dir_all(&cli.out_dir).with_context(|| format!("create {}", cli.out_dir.display()))?;

    let runs = cli
        .targets
        .iter()
        .flat_map(|t| sweep.workloads.iter().map(move |w| (t, w)))
        .flat_map(|(t, w)| sweep.pipelines.iter().map(move |&p| (t, w, p)))
        .filter(|(t, w, p)| w.not_applicable(t.dialect(), *p).is_none())
        .count()
        * sweep.clients.len();
    eprintln!(
        "{runs} runs of {} s + {} s warm-up: about {:.0} min plus start-ups and memory fills",
        sweep.seconds,
        sweep.warmup_seconds,
        (runs as u64 * (sweep.seconds + sweep.warmup_seconds)) as f64 / 60.0
    );
    let (mut rows, mut failures, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut prefills = Vec::new();
    for &kind in &cli.targets {
        eprintln!("{}: starting", kind.name());
        let mut t = match targets::start(kind, &opts).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: failed to start: {e:#}", kind.name());
                failures.push((kind.name().to_string(), format!("{e:#}")));
                continue;
            }
        };
        if cli.prefill_locks > 0 {
            if kind.dialect() == Dialect::Etcd {
                let e = format!(
                    "{}: not prefilled (a fill through etcd's JSON gateway would take minutes); its workloads ran on an empty store",
                    kind.name()
                );
                eprintln!("{e}");
                events.push(e);
            } else {
                eprintln!("{}: prefilling {} held locks", kind.name(), cli.prefill_locks);
                match memory::prefill(&mut t, cli.prefill_locks).await {
                    Ok(p) => {
                        eprintln!(
                            "  {} held ({} never granted, {} retried) in {:.1} s, every node applied after {:.1} s",
                            p.held, p.failed, p.retries, p.fill_seconds, p.applied_seconds
                        );
                        prefills.push(p);
                    }
                    Err(e) => {
                        eprintln!("{}: prefill failed, workloads skipped: {e:#}", kind.name());
                        failures.push((format!("{} (prefill)", kind.name()), format!("{e:#}")));
                        continue;
                    }
                }
            }
        }
        sweep_target(&mut t, &sweep, &mut rows, &mut events).await;
    }

    let mut memory = Vec::new();
    if cli.memory_locks > 0 {
        for &kind in cli.targets.iter().filter(|k| k.dialect() != Dialect::Etcd) {
            eprintln!("{}: memory with {} held locks", kind.name(), cli.memory_locks);
            let r = async {
                let mut t = targets::start(kind, &opts).await?;
                memory::measure(&mut t, cli.memory_locks).await
            };
            match r.await {
                Ok(m) => {
                    for n in &m.nodes {
                        eprintln!(
                            "  {} {}: {:.1} MiB RSS ({:.1} idle)",
                            m.target, n.node, n.rss_mib, n.rss_idle_mib
                        );
                    }
                    memory.push(m);
                }
                Err(e) => {
                    eprintln!("{}: memory failed: {e:#}", kind.name());
                    failures.push((format!("{} (memory)", kind.name()), format!("{e:#}")));
                }
            }
        }
    }

    machine.loadavg_at_end = machine::loadavg();
    let info = RunInfo {
        mode: if cli.quick {
            "quick"
        } else if cli.workloads.is_some() || cli.clients.is_some() || cli.pipelines.is_some() {
            "custom"
        } else {
            "full"
        }
        .into(),
        total_seconds: started.elapsed().as_secs_f64(),
        warmup_seconds: sweep.warmup_seconds as f64,
        window_seconds: sweep.seconds as f64,
        events,
        prefill_locks: cli.prefill_locks,
        prefills,
        fencepost_args: opts.fencepost_args.clone(),
        recipes: Workload::EVERY
            .iter()
            .filter(|w| sweep.workloads.contains(w))
            .map(|w| (w.name().to_string(), w.recipe().to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let report = Report::new(machine, info, rows, memory, failures);
    table::print(&report);
    let json = cli.out_dir.join("results.json");
    report.write_json(&json)?;
    let md = markdown::render(&report, &results_link(&cli));
    std::fs::write(cli.out_dir.join("results.md"), &md)?;
    if let Some(path) = &cli.readme {
        readme::update(path, &md)?;
        eprintln!("updated {}", path.display());
    }
    eprintln!(
        "wrote {} and results.md in {:.1} min",
        json.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// The results dir as the README links it: relative to the README's directory.
fn results_link(cli: &Cli) -> String {
    let out = std::path::absolute(&cli.out_dir).unwrap_or_else(|_| cli.out_dir.clone());
    let base = cli
        .readme
        .as_ref()
        .and_then(|r| std::path::absolute(r).ok())
        .and_then(|r| r.parent().map(PathBuf::from));
    match base.as_ref().and_then(|b| out.strip_prefix(b).ok()) {
        Some(rel) => rel.display().to_string(),
        None => cli.out_dir.display().to_string(),
    }
}

/// Versions of the servers to be measured, installing redis and etcd when missing.
fn versions(cli: &Cli) -> Result<Versions> {
    let wants = |d: Dialect| cli.targets.iter().any(|t| t.dialect() == d);
    let mut v = Versions::default();
    if wants(Dialect::Fencepost) {
        let bin = match &cli.fencepost_bin {
            Some(b) if b.is_file() => b,
            Some(b) => bail!("--fencepost-bin {} does not exist", b.display()),
            None => bail!("--fencepost-bin is required for fencepost targets (or drop them from --targets)"),
        };
        v.fencepost = install::version(&bin.to_string_lossy());
    }
    if wants(Dialect::Redis) {
        let tool = install::Tool {
            bin: cli.redis_bin.clone(),
            default_bin: "redis-server",
            apt_package: "redis-server",
        };
        v.redis = Some(tool.ensure()?);
    }
    if wants(Dialect::Etcd) {
        let tool = install::Tool {
            bin: cli.etcd_bin.clone(),
            default_bin: "etcd",
            apt_package: "etcd-server",
        };
        v.etcd = Some(tool.ensure()?);
    }
    Ok(v)
}

/// Runs every workload, pipeline and client count against one started target.
async fn sweep_target(t: &mut Running, sweep: &Sweep, rows: &mut Vec<Row>, events: &mut Vec<String>) {
    let kind = t.kind;
    let cfg = |clients| RunConfig {
        clients,
        warmup: Duration::from_secs(sweep.warmup_seconds),
        measure: Duration::from_secs(sweep.seconds),
    };
    // Waits, hand-offs and lease revocations finish well within this; past it the run is hung.
    let limit = Duration::from_secs(sweep.warmup_seconds + sweep.seconds + 60);
    for &w in &sweep.workloads {
        for &pipe in &sweep.pipelines {
            for &clients in &sweep.clients {
                let (tn, wn) = (kind.name(), w.name());
                if let Some(why) = w.not_applicable(kind.dialect(), pipe) {
                    rows.push(Row::not_applicable(tn, wn, clients, pipe, why));
                    continue;
                }
                // Clients connect to the leader; a cluster under load may have elected another.
                if let Some((old, new)) = t.refresh_leader().await {
                    let e = format!("{tn}: leader moved from {old} to {new} before {wn} c{clients} p{pipe}");
                    eprintln!("{e}");
                    events.push(e);
                }
                let load = machine::load1();
                let nodes: Vec<SocketAddr> = t.procs.iter().map(|p| p.addr).collect();
                let fencepost = kind.dialect() == Dialect::Fencepost;
                let r = async {
                    t.check_alive()?;
                    let plan = Arc::new(Plan::prepare(w, kind.dialect(), pipe, t.addr, t.security.clone()).await?);
                    let before = if fencepost {
                        Some(anatomy::read_all(&nodes).await?)
                    } else {
                        None
                    };
                    let run_started = Instant::now();
                    let usage_before = t.usage();
                    let stats = match tokio::time::timeout(limit, runner::run(plan, t.addr, cfg(clients))).await {
                        Ok(r) => r?,
                        Err(_) => bail!("run did not finish within {limit:?}"),
                    };
                    let leader = nodes.iter().position(|&a| a == t.addr).unwrap_or(0);
                    let anatomy = match before {
                        Some(before) => {
                            let after = anatomy::read_all(&nodes).await?;
                            let seconds = run_started.elapsed().as_secs_f64();
                            Some(anatomy::window(&before, &after, leader, seconds))
                        }
                        None => None,
                    };
                    let usage: Vec<(f64, u64)> = t
                        .usage()
                        .iter()
                        .zip(&usage_before)
                        .map(|(a, b)| (a.0 - b.0, a.1.saturating_sub(b.1)))
                        .collect();
                    Ok((stats, anatomy, usage, leader))
                };
                match r.await {
                    Ok((stats, anatomy, usage, leader)) => {
                        let mut row = Row::measured(tn, wn, clients, pipe, &stats);
                        row.load_1min = load;
                        let per_op = |x: f64| x / stats.all_ops.max(1) as f64;
                        if stats.all_ops > 0 {
                            let cpu: f64 = usage.iter().map(|u| u.0).sum();
                            let ctx: u64 = usage.iter().map(|u| u.1).sum();
                            row.cpu_us_per_op = Some(per_op(cpu * 1e6));
                            row.ctx_per_op = Some(per_op(ctx as f64));
                            row.nodes = crate::report::node_costs(&t.procs, &usage, leader, stats.all_ops);
                        }
                        row.anatomy = anatomy;
                        eprintln!(
                            "{tn} {wn} c{clients} p{pipe} (load {load:.2}): {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, cpu {:.1} µs/op, {:.1} ctx/op [{}]{}",
                            row.ops_per_sec,
                            row.p50_ms,
                            row.p99_ms,
                            row.max_ms,
                            row.cpu_us_per_op.unwrap_or(f64::NAN),
                            row.ctx_per_op.unwrap_or(f64::NAN),
                            crate::table::nodes_cell(&row),
                            match &row.first_error {
                                Some(e) => format!(", {} failed, first: {e}", row.failed),
                                None => String::new(),
                            }
                        );
                        if let Some(a) = &row.anatomy {
                            eprintln!("  {}", a.summary());
                        }
                        rows.push(row);
                    }
                    Err(e) => {
                        eprintln!("{tn} {wn} c{clients} p{pipe}: ERROR {e:#}");
                        rows.push(Row::error(tn, wn, clients, pipe, format!("{e:#}")));
                    }
                }
            }
        }
    }
}
