#!/usr/bin/env bash
# The project's test command: unit tests of every crate, the integration suites
# (real fencepost processes driven by redis-cli, the redis crate and raw RESP; the
# clock suite under libfaketime), the redis-py suites (RESP2 and RESP3; RedisCluster
# against a 3-node cluster) and the fault harness's CI step (jepsen/ci.sh: network
# namespaces, nftables partitions, kill -9, one mutation; needs root). Exits non-zero
# on any failure. JEPSEN=0 skips the fault harness (e.g. without root).
#
#   ./scripts/test.sh                 everything
#   CARGO_TEST_ARGS='--test lock' ./scripts/test.sh   (extra args for cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${JOBS:-2}"

echo "==> test dependencies (redis-cli, redis-py, libfaketime; redis-server and the Redis libraries)"
./scripts/install-test-deps.sh
./scripts/install-compat-deps.sh

echo "==> cargo build --workspace --bins"
cargo build -j"$JOBS" --workspace --bins

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export FENCEPOST_BIN="${FENCEPOST_BIN:-$target_dir/debug/fencepost}"
if [ ! -x "$FENCEPOST_BIN" ]; then
  echo "fencepost binary not found at $FENCEPOST_BIN" >&2
  exit 1
fi
echo "==> using FENCEPOST_BIN=$FENCEPOST_BIN"

status=0

echo "==> cargo test --workspace"
# shellcheck disable=SC2086 # CARGO_TEST_ARGS is a list of words on purpose
cargo test -j"$JOBS" --workspace ${CARGO_TEST_ARGS:-} || status=1

echo "==> redis-py suite (RESP2 and RESP3)"
python3 tests/py/test_fencepost.py || status=1

echo "==> redis-py RedisCluster suite (3 nodes, leader killed)"
python3 tests/py/test_cluster.py || status=1

echo "==> client TLS and ACL suite (TLS-only cluster: redis-cli --tls, redis-py, ioredis)"
python3 tests/py/test_security.py || status=1

echo "==> Python package (client/python: ruff, mypy --strict, fresh-venv install, pytest on a 3-node cluster)"
bash client/python/ci.sh || status=1

echo "==> operations suite (Prometheus, /metrics, /readyz in network namespaces, status page in Chromium, configuration)"
python3 tests/py/test_operations.py || status=1

echo "==> deployment suite (Kubernetes manifests, systemd unit, podman image and 3-node compose cluster)"
bash tests/deploy/run.sh || status=1

if [ "${JEPSEN:-1}" != 0 ]; then
  echo "==> fault harness (jepsen/ci.sh)"
  bash jepsen/ci.sh || status=1
fi

if [ "$status" -ne 0 ]; then
  echo "==> FAILED" >&2
else
  echo "==> all tests passed"
fi
exit "$status"
