#!/usr/bin/env bash
# Installs what the test suite drives fencepost with: redis-cli (redis-tools) and
# redis-py. Idempotent: does nothing when they are already present.
set -euo pipefail

need_apt=()
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing ${need_apt[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import redis' >/dev/null 2>&1; then
  echo "installing redis-py (pip)"
  python3 -m pip install --quiet --disable-pip-version-check 'redis>=5,<7'
fi
