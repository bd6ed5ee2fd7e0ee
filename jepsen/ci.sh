#!/usr/bin/env bash
# The harness's CI step (about 6 minutes on 2 cores once built): dependencies, both
# server builds, the checkers' unit tests, one 60 s lock-fence run under partition and
# kill, and three mutation runs (fence-stale, leader-restore, acl-skip-keys) with their
# controls. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash jepsen/install-deps.sh
cargo build -j2 -p fencepost-server -p fencepost-jepsen
# The mutation build has its own target dir: it must never replace target/debug/fencepost.
cargo build -j2 -p fencepost-server --features mutations --target-dir target/mutants
cargo test -j2 -p fencepost-jepsen
J=target/debug/fencepost-jepsen
$J cleanup >/dev/null
timeout 300 $J run --workload lock-fence --nemesis partition,kill --time-limit 60 --out target/jepsen/ci-lock-fence
timeout 600 $J mutations --only fence-stale,leader-restore,acl-skip-keys --time-limit 20 --out target/jepsen/ci-mutations
