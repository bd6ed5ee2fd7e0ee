#!/usr/bin/env bash
# Installs what the test suite drives fencepost with: redis-cli (redis-tools) and
# redis-py (>= 5, for RESP3). Idempotent: does nothing when they are already present.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "need root (or sudo) to run: $*" >&2
    return 1
  fi
}

if ! command -v redis-cli >/dev/null 2>&1; then
  echo "installing redis-tools (apt)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq redis-tools >/dev/null
fi

# redis-py 5+ speaks RESP3 (protocol=3).
if ! python3 -c 'import redis, sys; sys.exit(0 if int(redis.__version__.split(".")[0]) >= 5 else 1)' >/dev/null 2>&1; then
  echo "installing redis-py (pip)"
  pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" 'redis>=5,<7'; }
  if ! python3 -m pip --version >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq python3-pip >/dev/null
  fi
  # Debian 12+ marks the system Python as externally managed (PEP 668): fall back to
  # --user, then to --break-system-packages (a test dependency only).
  pip_install || pip_install --user || pip_install --break-system-packages
fi
