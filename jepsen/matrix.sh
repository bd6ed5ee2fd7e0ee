#!/usr/bin/env bash
# The results matrix of jepsen/README.md: every workload under the full nemesis mix on
# 3 nodes, one 5-node row, and one row where every fault is two kinds of the mix at once
# (overlap:). Usage: jepsen/matrix.sh [SECONDS] [OUT_DIR]. Needs root.
# WORKLOADS="semaphore rwlock" runs only those 3-node rows; FPJ_INSTANCE=k runs in
# namespaces of its own, beside another harness run.
# Prints one summary line per run (the harness's last line) with its command.
set -uo pipefail
cd "$(dirname "$0")/.."
T=${1:-300}
OUT=${2:-target/jepsen/matrix}
J=target/debug/fencepost-jepsen
MIX=partition,packet,kill,kill-all,pause,clock,membership
mkdir -p "$OUT"
run() {
  local name=$1; shift
  local cmd="fencepost-jepsen run $* --time-limit $T --out $OUT/$name"
  local last
  last=$(timeout $((T + 240)) $J run "$@" --time-limit "$T" --out "$OUT/$name" 2>"$OUT/$name.stderr" | tee "$OUT/$name.stdout" | tail -1)
  echo "$name | $cmd | $last" | tee -a "$OUT/summary.txt"
}
ALL="lock tokens lock-fence lock-unfenced lease fifo bucket idemp lock-fence-acl semaphore sliding rwlock redis-lock redis-data lock-delay watch"
for w in ${WORKLOADS:-$ALL}; do
  run "$w-3n" --workload "$w" --nemesis "$MIX" --nodes 3
done
[ -n "${WORKLOADS:-}" ] && exit 0
run "lock-fence-5n" --workload lock-fence --nemesis "$MIX" --nodes 5
# Faults that compound: a partition during a clock strobe, a kill during a pause, ...
run "lock-fence-overlap-3n" --workload lock-fence --nemesis "overlap:$MIX" --nodes 3
