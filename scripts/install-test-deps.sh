#!/usr/bin/env bash
# Installs what the test suite drives fencepost with: redis-cli (redis-tools),
# redis-py (>= 5, for RESP3), libfaketime (the clock suite moves each node's wall
# clock with it) and nftables (the operations suite's partition). Idempotent: does nothing when they are already present.
set -euo pipefail

# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

if ! command -v redis-cli >/dev/null 2>&1; then
  echo "installing redis-tools (apt)"
  apt_install redis-tools
fi

# The TLS suite makes its CA and certificates with the openssl command line.
if ! command -v openssl >/dev/null 2>&1; then
  echo "installing openssl (apt)"
  apt_install openssl
fi

# The operations suite cuts a node off in its own network namespace with nftables
# (/readyz must turn 503); without nft that test would only be skipped.
for tool in ip:iproute2 nft:nftables; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "installing ${tool#*:} (apt)"
    apt_install "${tool#*:}"
  fi
done

if [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] && [ -z "${LIBFAKETIME:-}" ]; then
  echo "installing libfaketime (apt)"
  apt_install libfaketime
fi

# redis-py 5+ speaks RESP3 (protocol=3).
if ! python3 -c 'import redis, sys; sys.exit(0 if int(redis.__version__.split(".")[0]) >= 5 else 1)' >/dev/null 2>&1; then
  echo "installing redis-py (pip)"
  pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" 'redis>=5,<7'; }
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  # Debian 12+ marks the system Python as externally managed (PEP 668): fall back to
  # --user, then to --break-system-packages (a test dependency only).
  pip_install || pip_install --user || pip_install --break-system-packages
fi
