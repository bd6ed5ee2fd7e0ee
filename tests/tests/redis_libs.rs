//! Real Redis libraries, unchanged, against a 3-node cluster through a follower: the
//! Python suite (tests/py/test_libs.py: redis-py Lock sync and asyncio, redlock-py,
//! limits) and the Node suite (tests/js/test_libs.mjs: node-redlock v5 on ioredis,
//! rate-limiter-flexible). Each runs as a child process; when it prints KILL-LEADER
//! this driver kill -9s the leader and answers KILLED on its stdin.
//!
//! The libraries come from scripts/install-compat-deps.sh; a missing one fails the test
//! with that hint rather than skipping it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fencepost_tests::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `program args` with the cluster's addresses; returns its output. Panics (with
/// the output and the nodes' logs) unless it exits 0 with `N passed, 0 failed`.
fn run_suite(program: &str, args: &[&str], probe: &[&str]) {
    let ok = Command::new(program)
        .args(probe)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{program} {probe:?} failed: install the libraries with scripts/install-compat-deps.sh"
    );
    let _serial = heavy_lock();
    let mut cluster = TestCluster::start(3);
    let leader = cluster.leader(TestCluster::SETUP);
    let follower = cluster.followers_of(leader)[0];
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo())
        .env("FENCEPOST_FOLLOWER", cluster.addr(follower))
        .env("FENCEPOST_LEADER", cluster.addr(leader))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut out = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read suite output");
        println!("{line}");
        if line.trim() == "KILL-LEADER" {
            cluster.kill9(leader);
            writeln!(stdin, "KILLED").expect("answer the suite");
            stdin.flush().expect("flush");
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().expect("wait for the suite");
    let summary = out.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or("");
    assert!(
        status.success() && summary.ends_with(" 0 failed"),
        "{program} suite failed ({status}):\n{out}\n{}",
        cluster.logs(40)
    );
}

#[test]
fn python_libraries_through_a_follower() {
    run_suite(
        "python3",
        &["tests/py/test_libs.py"],
        &["-c", "import redis, redlock, limits"],
    );
}

#[test]
fn node_libraries_through_a_follower() {
    run_suite(
        "node",
        &["tests/js/test_libs.mjs"],
        &[
            "-e",
            "require.resolve('./tests/js/node_modules/ioredis'); require.resolve('./tests/js/node_modules/redlock'); require.resolve('./tests/js/node_modules/rate-limiter-flexible')",
        ],
    );
}

/// Keeps the timeout constant referenced (the suites bound their own waits).
const _SUITE_WAITS: Duration = Duration::from_secs(20);
