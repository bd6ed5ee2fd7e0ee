//! The console form of a report.

use crate::report::{Report, Row, Status};
use crate::targets::TargetKind;

/// Short column names for the ratio columns.
pub fn short(target: &str) -> &str {
    match target {
        "fencepost-1" => "fp-1",
        "fencepost-3" => "fp-3",
        "redis-always" => "r-alw",
        "redis-none" => "r-none",
        "etcd-3" => "etcd",
        other => other,
    }
}

/// Targets that appear in the rows, in report order.
pub fn present_targets(rows: &[Row]) -> Vec<&'static str> {
    TargetKind::ALL
        .iter()
        .map(|t| t.name())
        .filter(|n| rows.iter().any(|r| r.target == *n))
        .collect()
}

/// Rows grouped by workload, pipeline, clients, then target in report order.
pub fn sorted(rows: &[Row]) -> Vec<&Row> {
    let order = |t: &str| TargetKind::ALL.iter().position(|k| k.name() == t).unwrap_or(99);
    let wl = |w: &str| {
        crate::workload::Workload::EVERY
            .iter()
            .position(|k| k.name() == w)
            .unwrap_or(99)
    };
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by_key(|r| (wl(&r.workload), r.pipeline, r.clients, order(&r.target)));
    v
}

/// "1.23x", or "-" where there is no ratio.
pub fn ratio_cell(r: &Row, peer: &str) -> String {
    match r.ops_ratio.get(peer) {
        Some(x) if *x >= 100.0 => format!("{x:.0}x"),
        Some(x) => format!("{x:.2}x"),
        None => "-".into(),
    }
}

/// ops/s, or why there is no figure.
pub fn ops_cell(r: &Row) -> String {
    match r.status {
        Status::Ok => format!("{:.0}", r.ops_per_sec),
        Status::NotApplicable => "n/a".into(),
        Status::Error => "ERROR".into(),
    }
}

/// The 1-minute load before a run, blank when not measured.
pub fn load_cell(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:.1}")
    }
}

/// Server CPU per op in µs, or a dash when not measured.
pub fn cpu_cell(r: &Row) -> String {
    r.cpu_us_per_op.map_or_else(|| "–".into(), |c| format!("{c:.1}"))
}

/// Context switches of all server threads per op, or a dash.
pub fn ctx_cell(r: &Row) -> String {
    r.ctx_per_op.map_or_else(|| "–".into(), |c| format!("{c:.1}"))
}

/// Per process "µs/ctx" per op, the leader first and marked L: "L 60.1/4.1 · 20.3/2.0".
pub fn nodes_cell(r: &Row) -> String {
    if r.nodes.is_empty() {
        return "–".into();
    }
    r.nodes
        .iter()
        .map(|n| {
            let mark = if n.leader { "L " } else { "" };
            format!("{mark}{:.1}/{:.1}", n.cpu_us_per_op, n.ctx_per_op)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A latency in ms, blank when not measured.
pub fn ms_cell(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// Prints the machine, every row with its ratios, the memory figures and the goals.
pub fn print(rep: &Report) {
    let m = &rep.machine;
    println!("machine: {}", m.summary());
    for (name, v) in [
        ("fencepost", &m.fencepost_version),
        ("redis", &m.redis_version),
        ("etcd", &m.etcd_version),
    ] {
        if let Some(v) = v {
            println!("{name:<9}: {v}");
        }
    }
    println!(
        "load     : {} at start, {} at end (1/5/15 min)",
        m.loadavg_at_start, m.loadavg_at_end
    );
    for n in &rep.notes {
        println!("note     : {n}");
    }
    println!();
    let peers = present_targets(&rep.rows);
    print!(
        "{:<13} {:<16} {:>7} {:>4} {:>9} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>5}",
        "target",
        "workload",
        "clients",
        "pipe",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "cpu µs",
        "ctx",
        "failed",
        "load"
    );
    for p in &peers {
        print!(" {:>7}", format!("÷{}", short(p)));
    }
    println!();
    let mut notes: Vec<&str> = Vec::new();
    for r in sorted(&rep.rows) {
        print!(
            "{:<13} {:<16} {:>7} {:>4} {:>9} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>5}",
            r.target,
            r.workload,
            r.clients,
            r.pipeline,
            ops_cell(r),
            ms_cell(r.p50_ms),
            ms_cell(r.p99_ms),
            ms_cell(r.max_ms),
            cpu_cell(r),
            ctx_cell(r),
            r.failed,
            load_cell(r.load_1min)
        );
        for p in &peers {
            print!(" {:>7}", ratio_cell(r, p));
        }
        println!();
        if !r.nodes.is_empty() && r.nodes.len() > 1 {
            println!("    per node µs/ctx per op: {}", nodes_cell(r));
        }
        if let Some(x) = r.vs_lock_cycle {
            println!(
                "    ÷ {}'s lock-cycle at the same clients and pipeline: {x:.2}x",
                r.target
            );
        }
        if let Some(e) = &r.first_error {
            println!("    first failure: {e}");
        }
        if r.status == Status::Error {
            println!("    error: {}", r.note.as_deref().unwrap_or(""));
        }
        if let (Status::NotApplicable, Some(n)) = (r.status, &r.note) {
            if !notes.contains(&n.as_str()) {
                notes.push(n);
            }
        }
    }
    for n in &notes {
        println!("n/a: {n}");
    }
    for p in &rep.prefill {
        println!(
            "prefill  : {} held {} of {} locks (`{}`) through its workloads; fill {:.1} s, applied everywhere after {:.1} s",
            p.target, p.held, p.locks, p.command, p.fill_seconds, p.applied_seconds
        );
    }
    if !rep.memory.is_empty() {
        println!();
        println!(
            "{:<13} {:<9} {:>9} {:>11} {:>9} {:>9} {:>8}",
            "memory", "node", "held", "idle MiB", "RSS MiB", "peak MiB", "fill s"
        );
        for mem in &rep.memory {
            for n in &mem.nodes {
                println!(
                    "{:<13} {:<9} {:>9} {:>11.1} {:>9.1} {:>9.1} {:>8.1}",
                    mem.target, n.node, mem.held, n.rss_idle_mib, n.rss_mib, n.peak_mib, mem.fill_seconds
                );
            }
            if mem.failed > 0 || mem.retries > 0 {
                println!(
                    "    {} of {} locks never granted, {} retried; first error: {}",
                    mem.failed,
                    mem.locks,
                    mem.retries,
                    mem.first_error.as_deref().unwrap_or("?")
                );
            }
        }
    }
    for e in &rep.events {
        println!("event: {e}");
    }
    for (t, why) in &rep.failures {
        println!("{t:<13} FAILED: {why}");
    }
    println!();
    println!("project targets (measured, not asserted):");
    for g in &rep.goals {
        let measured: Vec<String> = g.measured.iter().rev().map(|(t, v)| format!("{t} {v}")).collect();
        println!("  {:<55} goal {:<10} {}", g.what, g.goal, measured.join(", "));
    }
}
