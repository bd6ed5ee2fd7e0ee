#!/usr/bin/env bash
# A flamegraph of the leader of a 3-node cluster under the lock-cycle load (50 clients,
# pipeline 1): fencepost-bench starts the cluster and drives it, perf samples the leader
# (software cpu-clock, so it works in VMs without PMU access), inferno draws the SVG.
#
#   scripts/flamegraph.sh [OUT.svg]    default benches/results/leader-flamegraph.svg
#
# Installs linux-perf (apt) and inferno (cargo) when missing. BENCH_NO_BUILD=1 skips the
# release build. Needs root (or perf_event_paranoid <= 1) to attach perf.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benches/results/leader-flamegraph.svg}

# shellcheck source=lib/apt.sh
. scripts/lib/apt.sh
command -v perf >/dev/null || apt_install linux-perf
command -v inferno-flamegraph >/dev/null || cargo install -j2 --locked inferno
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -j2 -p fencepost-server -p fencepost-benches
fi
target_dir=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "work: $work"

"$target_dir/release/fencepost-bench" --fencepost-bin "$target_dir/release/fencepost" \
  --targets fencepost-3 --workloads lock-cycle --clients 50 --pipelines 1 \
  --seconds 12 --warmup-seconds 2 --memory-locks 0 --out-dir "$work" >"$work/bench.log" 2>&1 &
bench=$!

# The leader is the node whose RAFT INFO says so; its client port is on its command line.
leader=""
for _ in $(seq 60); do
  sleep 0.25
  for pid in $(pgrep -P "$bench" || true); do
    port=$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed -n 's/.*--port \([0-9]*\).*/\1/p')
    role=$(redis-cli -p "$port" RAFT INFO 2>/dev/null | sed -n 4p || true)
    [ "$role" = leader ] && leader=$pid
  done
  [ -n "$leader" ] && break
done
[ -n "$leader" ] || { echo "flamegraph.sh: no leader found" >&2; kill "$bench"; exit 1; }
sleep 4 # past the warm-up, into the measured window
perf record -e cpu-clock -F 999 --call-graph dwarf,32768 -p "$leader" -o "$work/perf.data" -- sleep 5 2>"$work/perf.log"
wait "$bench"
grep -E '^fencepost-3 ' "$work/bench.log" || true
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/folded"
inferno-flamegraph --title "fencepost leader, 3 nodes, lock cycle, 50 clients (cpu-clock)" \
  --width 1600 <"$work/folded" >"$out"
echo "flamegraph.sh: wrote $out ($(wc -l <"$work/folded") stacks)"
