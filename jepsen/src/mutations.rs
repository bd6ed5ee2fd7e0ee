//! `fencepost-jepsen mutations`: runs each deliberate server bug with the workload and
//! nemesis that should catch it, and each of those pairs once against the unmutated
//! server as a control. It passes only when every mutation is caught and every control
//! passes; hooks that are not in the server yet show up as "not caught", never faked.

use std::path::PathBuf;

use crate::checkers::Validity;
use crate::run::{self, Opts};
use crate::workloads::Workload;

/// (mutation, workload, nemesis, where its hook lives, run-time multiplier, client ops
/// per second). The two bugs that only bite after a restarted node has rebuilt its
/// state from a snapshot and then leads get more time: they need a kill, a snapshot and
/// a failover. `bucket-reset` gets the most: a restarted node that catches up by
/// snapshot install loses the divergence again, so it shows for sure only when every
/// node restarts (kill "all"). `leader-restore` leaves a stale window of tens of
/// milliseconds after each power cut, so its clients read at a higher rate, and it
/// gets time for several power cuts: it gates CI, where a miss would fail the run.
/// `watch-local` shows only while a node that was paused catches up, and not after
/// every pause (one 20 s run in five saw none), so it gets four pauses instead of two.
pub const TABLE: [(&str, Workload, &str, &str, u64, f64); 17] = [
    ("fence-stale", Workload::LockFence, "pause", "sm/fence.rs", 1, RATE),
    ("local-tokens", Workload::Tokens, "kill", "sm/ctx.rs", 2, RATE),
    ("grant-after-expiry", Workload::Lease, "pause", "sm/lock.rs", 1, RATE),
    ("follower-reads", Workload::Lock, "partition", "node (lead)", 1, RATE),
    ("early-ack", Workload::LockFence, "kill", "node (lead)", 1, RATE),
    ("bucket-reset", Workload::Bucket, "kill", "sm/bucket.rs", 3, RATE),
    ("idemp-twice", Workload::Idemp, "pause", "sm/idemp.rs", 1, RATE),
    ("wall-clock", Workload::Lease, "clock", "clock.rs (lead)", 1, RATE),
    (
        "leader-restore",
        Workload::LockFence,
        "kill-all",
        "node (raft config)",
        3,
        250.0,
    ),
    (
        "acl-skip-keys",
        Workload::LockFenceAcl,
        "partition",
        "cmd/acl.rs",
        1,
        RATE,
    ),
    ("extend-any-owner", Workload::LockFence, "pause", "sm/lock.rs", 1, RATE),
    (
        "semaphore-count-one",
        Workload::Semaphore,
        "pause",
        "sm/semaphore.rs",
        1,
        RATE,
    ),
    (
        "sliding-half-window",
        Workload::Sliding,
        "pause",
        "sm/window.rs",
        1,
        RATE,
    ),
    (
        "rwlock-shared-writer",
        Workload::Rwlock,
        "pause",
        "sm/rwlock.rs",
        1,
        RATE,
    ),
    (
        "delay-ignored",
        Workload::LockDelay,
        "pause",
        "sm/lock_delay.rs",
        1,
        RATE,
    ),
    ("watch-local", Workload::Watch, "pause", "cmd/lock_watch.rs", 2, RATE),
    (
        "set-nx-short",
        Workload::RedisLock,
        "pause",
        "sm/data/strings.rs",
        1,
        RATE,
    ),
];

/// The client rate of most rows.
const RATE: f64 = 60.0;

/// Options of the mutations command.
pub struct MutOpts {
    pub time_limit: u64,
    pub only: Option<Vec<String>>,
    pub out: PathBuf,
    pub bin: PathBuf,
    pub mutant_bin: PathBuf,
    pub seed: u64,
}

fn opts(m: &MutOpts, w: Workload, nemesis: &str, mutation: Option<&str>, scale: u64, rate: f64) -> Opts {
    let dir = match mutation {
        Some(name) => m.out.join(name),
        None => m.out.join(format!("control-{}-{}", w.name(), nemesis)),
    };
    Opts {
        workload: w,
        nemesis: nemesis.to_string(),
        nodes: 3,
        time_limit: m.time_limit * scale,
        rate,
        // Six clients, or more once each would have to send over 25 ops/s.
        concurrency: ((rate / 25.0) as usize).max(6),
        seed: m.seed,
        out: dir,
        bin: if mutation.is_some() {
            m.mutant_bin.clone()
        } else {
            m.bin.clone()
        },
        mutation: mutation.map(str::to_string),
    }
}

/// Runs the table; returns whether everything was caught and every control passed.
pub fn run_all(m: &MutOpts) -> anyhow::Result<bool> {
    let rows: Vec<_> = TABLE
        .iter()
        .filter(|(name, ..)| m.only.as_ref().is_none_or(|o| o.iter().any(|x| x == name)))
        .collect();
    anyhow::ensure!(!rows.is_empty(), "--only matched no mutation");
    let mut lines = Vec::new();
    let mut all_good = true;
    for (name, w, nemesis, hook, scale, rate) in &rows {
        eprintln!("== mutation {name}: {} under {nemesis}", w.name());
        let r = run::run(&opts(m, *w, nemesis, Some(name), *scale, *rate));
        let (verdict, after) = match &r {
            Ok(o) if o.valid == Validity::Invalid => (
                "CAUGHT".to_string(),
                o.first_anomaly_s
                    .map(|t| format!("{t:.2} s"))
                    .unwrap_or_else(|| "final read".into()),
            ),
            Ok(o) => (format!("not caught (valid: {})", o.valid.word()), "-".into()),
            Err(e) => (format!("harness error: {e:#}"), "-".into()),
        };
        if let Ok(o) = &r {
            eprintln!("{}", o.summary);
        }
        all_good &= verdict == "CAUGHT";
        lines.push(format!(
            "| {name} | {} | {nemesis} | {verdict} | {after} | {hook} |",
            w.name()
        ));
    }
    let mut pairs: Vec<(Workload, &str, u64, f64)> = rows.iter().map(|(_, w, n, _, k, r)| (*w, *n, *k, *r)).collect();
    pairs.dedup();
    let mut seen = Vec::new();
    let mut controls = Vec::new();
    for (w, nemesis, scale, rate) in pairs {
        if seen.contains(&(w, nemesis)) {
            continue;
        }
        seen.push((w, nemesis));
        eprintln!("== control: {} under {nemesis}, unmutated", w.name());
        let r = run::run(&opts(m, w, nemesis, None, scale, rate));
        let verdict = match &r {
            Ok(o) => {
                eprintln!("{}", o.summary);
                format!("valid: {}", o.valid.word())
            }
            Err(e) => format!("harness error: {e:#}"),
        };
        all_good &= verdict == "valid: true";
        controls.push(format!(
            "| (none) | {} | {nemesis} | {verdict} | - | control |",
            w.name()
        ));
    }
    println!("| mutation | workload | nemesis | result | caught after | hook |");
    println!("|---|---|---|---|---|---|");
    for l in lines.iter().chain(controls.iter()) {
        println!("{l}");
    }
    Ok(all_good)
}
