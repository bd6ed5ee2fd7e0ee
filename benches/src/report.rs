//! Results: one row per (target, workload, clients, pipeline), throughput ratios between
//! targets, the project's goals set beside the measured figures, and the JSON form.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::machine::Machine;
use crate::memory::{MemRow, PrefillRow};
use crate::runner::Stats;

/// Quantiles kept for the latency CDF plots.
const CDF_QUANTILES: [f64; 24] = [
    0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998,
    0.999, 0.9995, 0.9999, 1.0,
];

/// Whether a row has figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Measured.
    Ok,
    /// The combination makes no sense for this target (see `note`).
    NotApplicable,
    /// The run broke (see `note`).
    Error,
}

/// One run's figures.
#[derive(Debug, Serialize)]
pub struct Row {
    pub target: String,
    pub workload: String,
    pub clients: usize,
    pub pipeline: usize,
    pub status: Status,
    /// 1-minute load average just before the run (the machine is shared; high load skews the row).
    pub load_1min: f64,
    /// Why n/a, or what broke.
    pub note: Option<String>,
    pub seconds: f64,
    pub ops: u64,
    pub failed: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The first unexpected reply, if any op failed.
    pub first_error: Option<String>,
    /// (quantile, ms) points of the latency distribution.
    pub cdf: Vec<(f64, f64)>,
    /// This row's ops/s divided by each other target's in the same workload, clients and pipeline.
    pub ops_ratio: BTreeMap<String, f64>,
    /// redis-lock-cycle rows only: ops/s ÷ the same target's lock-cycle at the same clients
    /// and pipeline (what an unchanged redis-py application gets of the native lock cycle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_lock_cycle: Option<f64>,
    /// Server CPU time (user + system, every process of the target) per op, in µs.
    #[serde(default)]
    pub cpu_us_per_op: Option<f64>,
    /// Context switches of every server thread per op.
    pub ctx_per_op: Option<f64>,
    /// The same two per process, the leader (or the one server) first.
    pub nodes: Vec<NodeCost>,
    /// fencepost only: where its writes spent their time during this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anatomy: Option<crate::anatomy::Anatomy>,
}

/// One server process's cost per op in a run.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCost {
    /// `node-1`, `redis`, ...; `leader` says which node led.
    pub node: String,
    pub leader: bool,
    pub cpu_us_per_op: f64,
    pub ctx_per_op: f64,
}

/// Each process's cost per op from its (CPU seconds, context switches) in a run of
/// `ops` ops; the leader (position `leader` in `procs`) first.
pub fn node_costs(procs: &[crate::targets::Proc], usage: &[(f64, u64)], leader: usize, ops: u64) -> Vec<NodeCost> {
    let per_op = |x: f64| x / ops.max(1) as f64;
    let mut out: Vec<NodeCost> = procs
        .iter()
        .zip(usage)
        .enumerate()
        .map(|(i, (p, (cpu, ctx)))| NodeCost {
            node: p.name.clone(),
            leader: i == leader && procs.len() > 1,
            cpu_us_per_op: per_op(cpu * 1e6),
            ctx_per_op: per_op(*ctx as f64),
        })
        .collect();
    out.sort_by_key(|n| !n.leader);
    out
}

impl Row {
    fn blank(target: &str, workload: &str, clients: usize, pipeline: usize, status: Status) -> Row {
        Row {
            target: target.into(),
            workload: workload.into(),
            clients,
            pipeline,
            status,
            load_1min: f64::NAN,
            note: None,
            seconds: 0.0,
            ops: 0,
            failed: 0,
            ops_per_sec: 0.0,
            p50_ms: f64::NAN,
            p90_ms: f64::NAN,
            p99_ms: f64::NAN,
            p999_ms: f64::NAN,
            max_ms: f64::NAN,
            first_error: None,
            cdf: Vec::new(),
            ops_ratio: BTreeMap::new(),
            vs_lock_cycle: None,
            cpu_us_per_op: None,
            ctx_per_op: None,
            nodes: Vec::new(),
            anatomy: None,
        }
    }

    /// Summarises a measured run.
    pub fn measured(target: &str, workload: &str, clients: usize, pipeline: usize, s: &Stats) -> Row {
        let ms = |us: u64| us as f64 / 1000.0;
        let q = |p: f64| ms(s.hist.value_at_quantile(p));
        let mut r = Row::blank(target, workload, clients, pipeline, Status::Ok);
        r.seconds = s.seconds;
        r.ops = s.ops;
        r.failed = s.failed;
        r.ops_per_sec = if s.seconds > 0.0 { s.ops as f64 / s.seconds } else { 0.0 };
        if s.ops > 0 {
            r.p50_ms = q(0.50);
            r.p90_ms = q(0.90);
            r.p99_ms = q(0.99);
            r.p999_ms = q(0.999);
            r.max_ms = ms(s.hist.max());
            r.cdf = CDF_QUANTILES.iter().map(|&p| (p, q(p))).collect();
        }
        r.first_error = s.first_error.clone();
        r
    }

    /// A combination that does not apply to this target.
    pub fn not_applicable(target: &str, workload: &str, clients: usize, pipeline: usize, why: &str) -> Row {
        let mut r = Row::blank(target, workload, clients, pipeline, Status::NotApplicable);
        r.note = Some(why.into());
        r
    }

    /// A run that broke.
    pub fn error(target: &str, workload: &str, clients: usize, pipeline: usize, why: String) -> Row {
        let mut r = Row::blank(target, workload, clients, pipeline, Status::Error);
        r.note = Some(why);
        r
    }

    fn same_run(&self, o: &Row) -> bool {
        self.workload == o.workload && self.clients == o.clients && self.pipeline == o.pipeline
    }
}

/// One of the project's targets, with what this run measured for it.
#[derive(Debug, Serialize)]
pub struct Goal {
    /// What is compared.
    pub what: String,
    /// The project's target, e.g. ">= 1.0x".
    pub goal: String,
    /// Measured value per fencepost target ("not measured" when the run lacked a row).
    pub measured: BTreeMap<String, String>,
}

/// Everything a run produced.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// "full" or "quick".
    pub mode: String,
    /// UTC date of the run.
    pub date: String,
    /// Wall time of the whole run.
    pub total_seconds: f64,
    pub warmup_seconds: f64,
    pub window_seconds: f64,
    /// `--prefill-locks`: held locks each RESP target was filled with before its workloads (0: none).
    pub prefill_locks: u64,
    /// What each prefill got.
    pub prefill: Vec<PrefillRow>,
    /// `--fencepost-args`: appended to every fencepost node's command line.
    pub fencepost_args: Vec<String>,
    /// Clients and servers share the same cores: say so next to the figures.
    pub notes: Vec<String>,
    /// How each workload is done on each dialect.
    pub recipes: BTreeMap<String, String>,
    pub rows: Vec<Row>,
    pub memory: Vec<MemRow>,
    /// Targets (or memory fills) that could not be measured at all, with why.
    pub failures: Vec<(String, String)>,
    /// Things that happened during the sweep and bear on the figures (leader changes).
    pub events: Vec<String>,
    pub goals: Vec<Goal>,
}

/// What the run was, besides its rows.
pub struct RunInfo {
    pub mode: String,
    pub total_seconds: f64,
    pub warmup_seconds: f64,
    pub window_seconds: f64,
    pub prefill_locks: u64,
    pub prefills: Vec<PrefillRow>,
    pub fencepost_args: Vec<String>,
    pub recipes: BTreeMap<String, String>,
    pub events: Vec<String>,
}

impl Report {
    /// Computes ratios and goals.
    pub fn new(
        machine: Machine,
        info: RunInfo,
        mut rows: Vec<Row>,
        memory: Vec<MemRow>,
        failures: Vec<(String, String)>,
    ) -> Report {
        let ratios: Vec<BTreeMap<String, f64>> = rows
            .iter()
            .map(|r| {
                rows.iter()
                    .filter(|o| o.target != r.target && o.same_run(r))
                    .filter(|o| r.status == Status::Ok && o.status == Status::Ok && o.ops_per_sec > 0.0)
                    .map(|o| (o.target.clone(), r.ops_per_sec / o.ops_per_sec))
                    .collect()
            })
            .collect();
        let vs_lock_cycle: Vec<Option<f64>> = rows
            .iter()
            .map(|r| {
                let native = rows.iter().find(|o| {
                    o.target == r.target
                        && o.workload == "lock-cycle"
                        && o.clients == r.clients
                        && o.pipeline == r.pipeline
                        && o.status == Status::Ok
                        && o.ops_per_sec > 0.0
                })?;
                (r.workload == "redis-lock-cycle" && r.status == Status::Ok).then(|| r.ops_per_sec / native.ops_per_sec)
            })
            .collect();
        for ((r, m), v) in rows.iter_mut().zip(ratios).zip(vs_lock_cycle) {
            r.ops_ratio = m;
            r.vs_lock_cycle = v;
        }
        let goals = goals(&rows, &memory);
        let max_load = rows
            .iter()
            .map(|r| r.load_1min)
            .filter(|x| !x.is_nan())
            .fold(f64::NAN, f64::max);
        let mut notes = vec![
            format!(
                "the load generator and every server share the same {} CPUs (one target runs at a time); a 3-node cluster runs all 3 nodes on them too",
                machine.nproc
            ),
            "ops/s counts ops that finished inside the window; latency is per op, and every op of a pipelined batch is charged the whole batch's time".into(),
            "etcd is driven through its JSON gRPC gateway over HTTP/1.1 (one keep-alive connection per client); native gRPC clients would pay less per request, so etcd's figures are somewhat pessimistic".into(),
        ];
        if info.prefill_locks > 0 {
            notes.push(format!(
                "before its workloads each RESP target was filled with {} distinct held locks (one-hour TTL, the memory fill's commands; fencepost: until every node applied them), so the workloads ran against that state and, on fencepost, its snapshots; etcd targets are not filled",
                info.prefill_locks
            ));
        }
        if !info.fencepost_args.is_empty() {
            notes.push(format!(
                "every fencepost node ran with extra arguments `{}`",
                info.fencepost_args.join(" ")
            ));
        }
        if max_load > machine.nproc as f64 {
            notes.insert(
                0,
                format!(
                    "**the machine was busy**: the 1-minute load reached {max_load:.1} on {} CPUs before some runs (see the load column); other work competed with the servers and the load generator, so those figures understate every target, unevenly",
                    machine.nproc
                ),
            );
        }
        Report {
            machine,
            mode: info.mode,
            date: today_utc(),
            total_seconds: info.total_seconds,
            warmup_seconds: info.warmup_seconds,
            window_seconds: info.window_seconds,
            prefill_locks: info.prefill_locks,
            prefill: info.prefills,
            fencepost_args: info.fencepost_args,
            notes,
            recipes: info.recipes,
            rows,
            memory,
            failures,
            events: info.events,
            goals,
        }
    }

    /// Writes the JSON form.
    pub fn write_json(&self, path: &std::path::Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }
}

/// The headline point the project's targets are stated at.
pub const HEADLINE_CLIENTS: usize = 50;

fn find<'a>(rows: &'a [Row], target: &str, workload: &str) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.target == target
            && r.workload == workload
            && r.clients == HEADLINE_CLIENTS
            && r.pipeline == 1
            && r.status == Status::Ok
    })
}

/// The project's stated targets, each with the measured figure for fencepost-3 and fencepost-1.
fn goals(rows: &[Row], memory: &[MemRow]) -> Vec<Goal> {
    let fp = ["fencepost-3", "fencepost-1"];
    let ratio_to = |peer: &str| -> BTreeMap<String, String> {
        fp.iter()
            .map(|t| {
                let v = find(rows, t, "lock-cycle")
                    .and_then(|r| r.ops_ratio.get(peer))
                    .map_or("not measured".into(), |x| format!("{x:.2}x"));
                (t.to_string(), v)
            })
            .collect()
    };
    let p99: BTreeMap<String, String> = fp
        .iter()
        .map(|t| {
            let v = find(rows, t, "lock-cycle").map_or("not measured".into(), |r| format!("{:.2} ms", r.p99_ms));
            (t.to_string(), v)
        })
        .collect();
    let mem: BTreeMap<String, String> = fp
        .iter()
        .map(|t| {
            let v = memory
                .iter()
                .find(|m| m.target == *t)
                .and_then(|m| {
                    m.nodes
                        .iter()
                        .map(|n| n.rss_mib)
                        .max_by(f64::total_cmp)
                        .map(|x| (m.held, x))
                })
                .map_or("not measured".into(), |(locks, x)| {
                    format!("{x:.0} MiB ({locks} locks held)")
                });
            (t.to_string(), v)
        })
        .collect();
    let mut goals = vec![
        Goal {
            what: "lock cycles/s ÷ redis-always (50 clients, pipeline 1)".into(),
            goal: ">= 1.0x".into(),
            measured: ratio_to("redis-always"),
        },
        Goal {
            what: "lock cycles/s ÷ etcd-3 (50 clients, pipeline 1)".into(),
            goal: ">= 20x".into(),
            measured: ratio_to("etcd-3"),
        },
        Goal {
            what: "lock cycle p99 (50 clients, pipeline 1)".into(),
            goal: "<= 5 ms".into(),
            measured: p99,
        },
        Goal {
            what: "RSS with 1M held locks, largest node".into(),
            goal: "<= 150 MiB".into(),
            measured: mem,
        },
    ];
    // Only when the opt-in workload ran, so that default runs keep their table.
    if rows.iter().any(|r| r.workload == "redis-lock-cycle") {
        let measured = fp
            .iter()
            .map(|t| {
                let v = find(rows, t, "redis-lock-cycle")
                    .and_then(|r| r.vs_lock_cycle)
                    .map_or("not measured".into(), |x| format!("{x:.2}x"));
                (t.to_string(), v)
            })
            .collect();
        goals.push(Goal {
            what: "redis-py Lock cycles/s ÷ LOCK cycles/s, same target (50 clients, pipeline 1)".into(),
            goal: ">= 0.8x".into(),
            measured,
        });
    }
    goals
}

/// Today's date in UTC as YYYY-MM-DD (days-to-civil, so no date crate is needed).
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
