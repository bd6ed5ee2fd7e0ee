//! fencepost-jepsen: the fault-injection harness (nodes in network namespaces;
//! kill/pause/partition/clock/membership faults; workloads; checkers; EDN history).
//!
//! Not built yet. The fault tests that exist today are in `tests/tests/cluster.rs`
//! (kill -9 of leaders under load, SIGSTOP minorities, membership changes, wiped
//! nodes) and run with `./scripts/test.sh`.

fn main() {
    eprintln!("fencepost-jepsen: the fault-injection harness is not built yet; see tests/tests/cluster.rs");
    std::process::exit(2);
}
