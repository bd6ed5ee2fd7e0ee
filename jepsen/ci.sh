#!/usr/bin/env bash
# The harness's CI step (about 11 minutes on 2 cores once built): dependencies, both
# server builds, the checkers' unit tests and the coverage test, one 60 s lock-fence run
# under partition and kill, and nine mutation runs (fence-stale, leader-restore,
# acl-skip-keys, extend-any-owner, semaphore-count-one, sliding-half-window,
# rwlock-shared-writer, delay-ignored, set-nx-short) with their controls
# (extend-any-owner shares fence-stale's lock-fence/pause control). The last six were
# each caught with seeds 1, 2 and 3 within 2.1 s of a 20 s run; with their controls they
# add eleven runs of about 23 s each. watch-local is left out: it shows only while a paused node catches up, and
# a 20 s run missed it (seed 4). Needs root.
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
timeout 900 $J mutations --only fence-stale,leader-restore,acl-skip-keys,extend-any-owner,semaphore-count-one,sliding-half-window,rwlock-shared-writer,delay-ignored,set-nx-short \
    --time-limit 20 --out target/jepsen/ci-mutations
