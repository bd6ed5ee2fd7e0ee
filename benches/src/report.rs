//! Results: one row per target, ratios of fencepost to each redis variant, table and JSON.

use anyhow::Result;
use serde::Serialize;

use crate::machine::Machine;
use crate::runner::Stats;

/// One target's figures.
#[derive(Debug, Serialize)]
pub struct Row {
    pub target: String,
    pub workload: String,
    pub clients: usize,
    pub pipeline: usize,
    pub seconds: f64,
    pub cycles: u64,
    pub failed: u64,
    pub cycles_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The first unexpected reply, if any cycle failed.
    pub first_error: Option<String>,
}

impl Row {
    /// Summarises a run.
    pub fn new(target: &str, workload: &str, clients: usize, pipeline: usize, s: &Stats) -> Row {
        let q = |p: f64| s.hist.value_at_quantile(p) as f64 / 1000.0;
        Row {
            target: target.into(),
            workload: workload.into(),
            clients,
            pipeline,
            seconds: s.seconds,
            cycles: s.cycles,
            failed: s.failed,
            cycles_per_sec: if s.seconds > 0.0 {
                s.cycles as f64 / s.seconds
            } else {
                0.0
            },
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: s.hist.max() as f64 / 1000.0,
            first_error: s.first_error.clone(),
        }
    }
}

/// fencepost against one other target (>1 means fencepost is higher).
#[derive(Debug, Serialize)]
pub struct Ratio {
    pub baseline: String,
    pub throughput: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Everything a run produced.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// Clients and servers share the same cores: say so next to the figures.
    pub note: String,
    pub rows: Vec<Row>,
    /// Targets that could not be measured, with why.
    pub failures: Vec<(String, String)>,
    pub ratios: Vec<Ratio>,
}

impl Report {
    /// Computes ratios of the fencepost row to every other row.
    pub fn new(machine: Machine, rows: Vec<Row>, failures: Vec<(String, String)>) -> Report {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let ratios = match rows.iter().find(|r| r.target == "fencepost") {
            Some(f) => rows
                .iter()
                .filter(|r| r.target != "fencepost")
                .map(|b| Ratio {
                    baseline: b.target.clone(),
                    throughput: div(f.cycles_per_sec, b.cycles_per_sec),
                    p50: div(f.p50_ms, b.p50_ms),
                    p99: div(f.p99_ms, b.p99_ms),
                })
                .collect(),
            None => Vec::new(),
        };
        let note = format!(
            "load generator and servers share the same {} CPUs; one server runs at a time",
            machine.nproc
        );
        Report {
            machine,
            note,
            rows,
            failures,
            ratios,
        }
    }

    /// Prints the human-readable table.
    pub fn print(&self) {
        let m = &self.machine;
        println!(
            "machine: {} CPUs, {}, {} GiB, Linux {}",
            m.nproc, m.cpu_model, m.mem_gib, m.kernel
        );
        if let Some(v) = &m.redis_version {
            println!("redis:   {v}");
        }
        println!("load:    {} (1/5/15 min, at start)", m.loadavg_at_start);
        println!("note:    {}", self.note);
        println!();
        println!(
            "{:<13} {:<11} {:>7} {:>4} {:>11} {:>8} {:>8} {:>8} {:>7}",
            "target",
            "workload",
            "clients",
            "pipe",
            "cycles/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "failed"
        );
        for r in &self.rows {
            println!(
                "{:<13} {:<11} {:>7} {:>4} {:>11.0} {:>8.3} {:>8.3} {:>8.1} {:>7}",
                r.target,
                r.workload,
                r.clients,
                r.pipeline,
                r.cycles_per_sec,
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                r.failed
            );
            if let Some(e) = &r.first_error {
                println!("    first failure: {e}");
            }
        }
        for (t, why) in &self.failures {
            println!("{t:<13} FAILED: {why}");
        }
        if !self.ratios.is_empty() {
            println!();
            for r in &self.ratios {
                println!(
                    "fencepost / {:<13} throughput {:.2}x   p50 {:.2}x   p99 {:.2}x",
                    r.baseline, r.throughput, r.p50, r.p99
                );
            }
        }
    }

    /// Writes the JSON form.
    pub fn write_json(&self, path: &std::path::Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")?;
        Ok(())
    }
}
