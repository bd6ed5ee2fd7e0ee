//! One run: start the cluster, run clients and the nemesis until the time limit, heal,
//! wait for recovery, read the final state, then check, write the store directory and
//! print the summary line.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;

use crate::checkers::{Report, Validity};
use crate::cluster::{Cluster, Settings};
use crate::history::{edn, i, map, pairs, s, Op, Proc, Recorder, Type, V};
use crate::nemesis::{self, Kind, Mix};
use crate::workloads::{Shared, Workload};

/// A run's parameters.
#[derive(Debug, Clone)]
pub struct Opts {
    pub workload: Workload,
    pub nemesis: String,
    pub nodes: usize,
    pub time_limit: u64,
    pub rate: f64,
    pub concurrency: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub bin: PathBuf,
    pub mutation: Option<String>,
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub valid: Validity,
    pub summary: String,
    /// Harness time (s) of the first anomaly, if any.
    pub first_anomaly_s: Option<f64>,
    pub reports: Vec<Report>,
}

/// Runs once; `Err` only when the harness itself failed.
pub fn run(o: &Opts) -> anyhow::Result<Outcome> {
    let mix = Mix::parse(&o.nemesis)?;
    anyhow::ensure!(
        (1..=crate::net::ns::MAX_NODES).contains(&o.nodes),
        "--nodes must be 1..=5"
    );
    anyhow::ensure!(o.bin.exists(), "server binary {} not found", o.bin.display());
    crate::net::ns::setup(o.nodes)?;
    std::fs::create_dir_all(&o.out)?;
    let nodes_dir = o.out.join("nodes");
    if nodes_dir.exists() {
        std::fs::remove_dir_all(&nodes_dir)?;
    }
    std::fs::create_dir_all(&nodes_dir)?;
    for slot in 1..=o.nodes {
        let ns = crate::net::ns::node_ns(slot);
        let _ = crate::net::nft::heal(&ns);
        let _ = crate::net::netem::heal(&ns);
    }
    // Run a private copy of the server: the shared target/ may be rebuilt by someone
    // else mid-run, and a node restarted by the nemesis would exec the new build, making
    // a mixed-version cluster that the results would not mention.
    let bin = nodes_dir.join("fencepost");
    std::fs::copy(&o.bin, &bin).with_context(|| format!("copying {}", o.bin.display()))?;
    let built = std::fs::metadata(&o.bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let settings = Settings {
        bin: bin.clone(),
        nodes: o.nodes,
        dir: nodes_dir.clone(),
        mutation: o.mutation.clone(),
        faketime: mix.contains(Kind::Clock),
    };
    if settings.faketime {
        anyhow::ensure!(
            std::path::Path::new(crate::cluster::LIBFAKETIME).exists(),
            "libfaketime is missing: run jepsen/install-deps.sh"
        );
    }
    let cluster = Arc::new(Mutex::new(Cluster::new(settings)));
    cluster.lock().unwrap_or_else(|e| e.into_inner()).start_all()?;
    let healthy = cluster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .wait_healthy(Duration::from_secs(30));
    anyhow::ensure!(
        healthy,
        "the cluster did not elect a leader within 30 s (see {})",
        nodes_dir.display()
    );

    let recorder = Arc::new(Recorder::new());
    let deadline = Instant::now() + Duration::from_secs(o.time_limit);
    let max_ops = (o.rate * o.time_limit as f64 * 3.0) as i64 + 1000;
    let shared = Arc::new(
        Shared::new(
            recorder.clone(),
            deadline,
            o.nodes,
            o.concurrency,
            o.rate,
            o.seed,
            max_ops,
        )
        .with_user(o.workload.user()),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let workload = o.workload;
    rt.block_on(workload.setup(shared.clone())).context("workload setup")?;

    let halt = Arc::new(AtomicBool::new(false));
    let nem_ctx = nemesis::Ctx {
        cluster: cluster.clone(),
        rng: rand::rngs::StdRng::seed_from_u64(o.seed),
        recorder: recorder.clone(),
    };
    let (m2, h2, seed) = (mix.clone(), halt.clone(), o.seed);
    let nem = std::thread::spawn(move || nemesis::run(nem_ctx, &m2, deadline, h2, seed));

    let sh = shared.clone();
    rt.block_on(async move {
        // Clients stop at the deadline; an op in flight has its own timeout.
        let _ = tokio::time::timeout(Duration::from_secs(o.time_limit + 30), workload.clients(sh)).await;
    });
    halt.store(true, std::sync::atomic::Ordering::Relaxed);
    let faults = nem.join().map_err(|_| anyhow::anyhow!("nemesis thread panicked"))?;

    // Heal, recover, final reads.
    let mut heal_ctx = nemesis::Ctx {
        cluster: cluster.clone(),
        rng: rand::rngs::StdRng::seed_from_u64(o.seed),
        recorder: recorder.clone(),
    };
    nemesis::heal_all(&mut heal_ctx);
    let recovered = cluster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .wait_healthy(Duration::from_secs(60));
    recorder.record(
        Type::Info,
        Proc::Nemesis,
        "recovered",
        s(if recovered {
            "leader known on every node"
        } else {
            "no leader after 60 s"
        }),
    );
    let sh = shared.clone();
    let final_deadline = Instant::now() + Duration::from_secs(60);
    let final_shared = Arc::new(Shared::new(
        recorder.clone(),
        final_deadline,
        o.nodes,
        1,
        10.0,
        o.seed,
        1000,
    ));
    rt.block_on(async move {
        let _ = sh;
        let _ = tokio::time::timeout(Duration::from_secs(60), workload.final_reads(final_shared)).await;
    });
    cluster.lock().unwrap_or_else(|e| e.into_inner()).shutdown();
    rt.shutdown_timeout(Duration::from_secs(2));

    let ops = recorder.snapshot();
    std::fs::write(o.out.join("history.edn"), edn::history(&ops))?;
    let reports = workload.check(&ops, Duration::from_secs(60));
    let valid = reports.iter().fold(Validity::Valid, |v, r| v.and(r.valid));
    let counts = count(&ops);
    let anomalies: usize = reports.iter().map(|r| r.anomalies.len()).sum();
    let first = reports
        .iter()
        .flat_map(|r| r.anomalies.iter())
        .map(|a| a.at)
        .filter(|&t| t > 0)
        .min();
    let results = map(vec![
        ("valid?", valid.edn()),
        ("workload", V::Kw(workload.name().to_string())),
        ("nemesis", s(o.nemesis.clone())),
        ("nodes", i(o.nodes as u64)),
        ("time-limit", i(o.time_limit)),
        ("seed", i(o.seed)),
        ("mutation", o.mutation.clone().map(s).unwrap_or(V::Nil)),
        ("server-bin", s(o.bin.display().to_string())),
        ("server-bin-mtime", i(built)),
        ("ops", i(counts.0)),
        ("ok", i(counts.1)),
        ("fail", i(counts.2)),
        ("info", i(counts.3)),
        ("faults", i(faults as u64)),
        ("fault-kinds", fault_kinds(&ops)),
        ("recovered", V::Sym(if recovered { "true" } else { "false" })),
        ("anomaly-count", i(anomalies as u64)),
        ("checkers", V::Vec(reports.iter().map(|r| r.edn()).collect())),
    ]);
    std::fs::write(o.out.join("results.edn"), edn::value(&results) + "\n")?;
    let header = crate::plot::Header {
        workload: workload.name(),
        nemesis: &o.nemesis,
        nodes: o.nodes,
        valid: valid.word(),
    };
    // A picture that could not be drawn is no reason to lose the run's verdict.
    if let Err(e) = crate::plot::write(&o.out.join("latency-throughput.png"), &ops, &header) {
        eprintln!("fencepost-jepsen: latency-throughput.png not written: {e:#}");
    }
    // Node data and the server copy are large and useless after the run; the logs stay.
    let _ = std::fs::remove_file(&bin);
    for slot in 1..=o.nodes {
        let d = nodes_dir.join(format!("n{slot}"));
        if d.exists() {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
    let summary = format!(
        "valid: {} workload={} nemesis={} ops={} ok={} fail={} info={} faults={} anomalies={}",
        valid.word(),
        workload.name(),
        o.nemesis,
        counts.0,
        counts.1,
        counts.2,
        counts.3,
        faults,
        anomalies
    );
    Ok(Outcome {
        valid,
        summary,
        first_anomaly_s: first.map(|t| t as f64 / 1e9),
        reports,
    })
}

/// How many faults of each kind were started (skipped ones are not counted).
fn fault_kinds(ops: &[Op]) -> V {
    let mut counts: Vec<(&'static str, u64)> = Vec::new();
    for op in ops
        .iter()
        .filter(|o| o.process == Proc::Nemesis && o.f.starts_with("start-"))
    {
        if matches!(op.value, V::Str(_)) {
            continue; // "skipped: ..."
        }
        let kind = op.f.trim_start_matches("start-");
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    map(counts.into_iter().map(|(k, n)| (k, i(n))).collect())
}

/// (ops, ok, fail, info) over client ops.
fn count(ops: &[Op]) -> (u64, u64, u64, u64) {
    let ps = pairs(ops);
    let n = ps.len() as u64;
    let ok = ps.iter().filter(|p| p.typ == Type::Ok).count() as u64;
    let fail = ps.iter().filter(|p| p.typ == Type::Fail).count() as u64;
    (n, ok, fail, n - ok - fail)
}
