//! fencepost-jepsen: run a workload under faults, run the mutation table, or clean up.
//! Needs root (network namespaces, nftables, tc). The binary sets up the namespaces and
//! re-executes itself inside the control namespace, where its clients run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fencepost_jepsen::checkers::Validity;
use fencepost_jepsen::mutations::{self, MutOpts};
use fencepost_jepsen::net::ns;
use fencepost_jepsen::run::{self, Opts};
use fencepost_jepsen::workloads::Workload;

#[derive(Parser)]
#[command(name = "fencepost-jepsen", about = "Fault-injection harness for fencepost")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs one workload under a nemesis mix and checks the history.
    Run {
        #[arg(long, help = format!("One of: {}", Workload::names()))]
        workload: String,
        /// Comma-separated, one fault at a time: partition, packet, kill, kill-all, pause,
        /// clock, membership, none. `overlap:A+B[+C...]`: each fault is two kinds of
        /// these at once (a random pair when more are listed), e.g. overlap:partition+clock
        #[arg(long, default_value = "none")]
        nemesis: String,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Seconds of workload before the heal.
        #[arg(long, default_value_t = 60)]
        time_limit: u64,
        /// Client ops per second, all workers together.
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 6)]
        concurrency: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Store directory (history.edn, results.edn, PNG, node logs).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run against the mutation-enabled server with this deliberate bug.
        #[arg(long)]
        mutation: Option<String>,
    },
    /// Runs every mutation with the workload and nemesis meant to catch it, plus controls.
    Mutations {
        /// Seconds per run.
        #[arg(long, default_value_t = 30)]
        time_limit: u64,
        /// Only these mutations (comma-separated).
        #[arg(long)]
        only: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Removes namespaces and processes a killed run left behind.
    Cleanup,
}

/// The unmutated server: $FENCEPOST_BIN, else `fencepost` beside this binary.
fn server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("FENCEPOST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name("fencepost")
}

/// The mutation-enabled server: $FENCEPOST_MUTANT_BIN, else target/mutants/debug/fencepost.
fn mutant_bin() -> PathBuf {
    if let Ok(p) = std::env::var("FENCEPOST_MUTANT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // exe is target/<profile>/fencepost-jepsen; the mutant lives in target/mutants/debug.
    match exe.parent().and_then(|p| p.parent()) {
        Some(target) => target.join("mutants").join("debug").join("fencepost"),
        None => PathBuf::from("target/mutants/debug/fencepost"),
    }
}

fn default_out(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    match exe.parent().and_then(|p| p.parent()) {
        Some(target) => target.join("jepsen").join(name),
        None => PathBuf::from("jepsen-store").join(name),
    }
}

/// Kills fencepost processes started from this harness's namespaces, then removes them.
fn cleanup() -> anyhow::Result<()> {
    let list = fencepost_jepsen::net::sh("ip", &["netns", "list"])?;
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if name.starts_with(&ns::prefix()) {
            if let Ok(pids) = fencepost_jepsen::net::sh("ip", &["netns", "pids", name]) {
                for pid in pids.split_whitespace() {
                    let _ = fencepost_jepsen::net::sh("kill", &["-CONT", pid]);
                    let _ = fencepost_jepsen::net::sh("kill", &["-KILL", pid]);
                }
            }
        }
    }
    ns::teardown()
}

/// Runs this same command line inside the control namespace; returns its exit code.
fn reenter(nodes: usize) -> anyhow::Result<u8> {
    // Two runs of one instance (FPJ_INSTANCE) would tear down each other's network:
    // refuse while another run's processes live in the control namespace.
    let control = ns::control();
    if let Ok(pids) = fencepost_jepsen::net::sh("ip", &["netns", "pids", &control]) {
        if !pids.trim().is_empty() {
            anyhow::bail!(
                "another fencepost-jepsen run is in progress (pids {} in {}); wait for it, or run `cleanup` if it is a leftover",
                pids.split_whitespace().collect::<Vec<_>>().join(","),
                control
            );
        }
    }
    ns::setup(nodes)?;
    let exe = std::env::current_exe()?;
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", &control])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("FPJ_NETNS", &control)
        .status()?;
    let _ = cleanup();
    Ok(status.code().map(|c| c as u8).unwrap_or(2))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("fencepost-jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<u8> {
    match cli.cmd {
        Cmd::Cleanup => {
            cleanup()?;
            println!("cleanup: no {}* namespaces left", ns::prefix());
            Ok(0)
        }
        Cmd::Run {
            workload,
            nemesis,
            nodes,
            time_limit,
            rate,
            concurrency,
            seed,
            out,
            mutation,
        } => {
            let w = Workload::parse(&workload)?;
            if !ns::in_control() {
                return reenter(nodes);
            }
            let out = out.unwrap_or_else(|| default_out(&format!("{workload}-{}-s{seed}", nemesis.replace(',', "+"))));
            let bin = if mutation.is_some() { mutant_bin() } else { server_bin() };
            let o = Opts {
                workload: w,
                nemesis,
                nodes,
                time_limit,
                rate,
                concurrency: concurrency.max(1),
                seed,
                out: out.clone(),
                bin,
                mutation,
            };
            let r = run::run(&o)?;
            for rep in &r.reports {
                println!(
                    "checker {}: valid {} anomalies {} {}",
                    rep.checker,
                    rep.valid.word(),
                    rep.anomalies.len(),
                    rep.note
                );
                for a in rep.anomalies.iter().take(5) {
                    println!("  {} at {:.1} s: {}", a.kind, a.at as f64 / 1e9, a.detail);
                }
            }
            println!("store: {}", out.display());
            println!("{}", r.summary);
            Ok(match r.valid {
                Validity::Valid => 0,
                Validity::Invalid => 1,
                Validity::Unknown => 2,
            })
        }
        Cmd::Mutations {
            time_limit,
            only,
            out,
            seed,
        } => {
            if !ns::in_control() {
                return reenter(3);
            }
            let m = MutOpts {
                time_limit,
                only: only.map(|s| s.split(',').map(str::to_string).collect()),
                out: out.unwrap_or_else(|| default_out("mutations")),
                bin: server_bin(),
                mutant_bin: mutant_bin(),
                seed,
            };
            let ok = mutations::run_all(&m)?;
            println!(
                "mutations: {}",
                if ok {
                    "every mutation caught, every control valid"
                } else {
                    "NOT all caught / controls failed"
                }
            );
            Ok(if ok { 0 } else { 1 })
        }
    }
}
