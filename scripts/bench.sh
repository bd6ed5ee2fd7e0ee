#!/usr/bin/env bash
# Reproduces the README's benchmark section in one command: builds fencepost and
# fencepost-bench, installs redis-server, etcd-server and matplotlib when missing, runs the
# sweep on loopback, draws the plots and rewrites the README between the bench markers.
#
#   scripts/bench.sh           full sweep (~15 min): benches/results/, README section updated
#   scripts/bench.sh --quick   ~2 min: 50 clients, pipeline 1, lock cycle, every target,
#                              10 s windows, memory fill; benches/results/quick/, README
#                              left alone
#
# Other arguments go to fencepost-bench (e.g. --targets fencepost-3,redis-always; see --help).
# BENCH_NO_BUILD=1 skips the cargo build and uses the binaries already built
# (FENCEPOST_BIN and BENCH_BIN override their paths).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
args=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1; args+=("$a") ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

# Other work on the machine skews every figure; the report repeats this.
echo "uptime: $(uptime)"

# shellcheck source=lib/apt.sh
. scripts/lib/apt.sh
command -v redis-server >/dev/null || apt_install redis-server
command -v etcd >/dev/null || apt_install etcd-server
if ! python3 -c 'import matplotlib' 2>/dev/null; then
  # A PEP 668 system Python refuses pip; Debian's package serves then.
  python3 -m pip install --quiet matplotlib || apt_install python3-matplotlib
fi

target_dir=${CARGO_TARGET_DIR:-target}
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  # -j2: the machine this was written for has 2 cores.
  cargo build --release -j2 -p fencepost-server -p fencepost-benches
fi
fencepost=${FENCEPOST_BIN:-$target_dir/release/fencepost}
bench=${BENCH_BIN:-$target_dir/release/fencepost-bench}

if [ "$quick" = 1 ]; then
  out=benches/results/quick
  readme=()
else
  out=benches/results
  readme=(--readme README.md)
fi
start=$(date +%s)
"$bench" --fencepost-bin "$fencepost" --out-dir "$out" "${readme[@]}" "${args[@]}"
python3 benches/plot.py "$out/results.json" "$out"
echo "bench.sh: done in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s; results in $out/"
