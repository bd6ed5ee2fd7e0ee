#!/usr/bin/env bash
# Installs what the Redis-compatibility suites drive fencepost with, only when missing:
# redis-server (the reference for the differential test), the Python libraries
# (redis-py, redlock-py, limits) and the Node libraries (ioredis, redlock v5,
# rate-limiter-flexible, in tests/js/node_modules). Idempotent; apt-get update runs
# at most once.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "installing redis-server and redis-tools (apt)"
  apt_install redis-server redis-tools
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "installing pip (apt)"
  apt_install python3-pip
fi

# Pinned major versions: the suites test these libraries' own scripts unchanged.
PY_PKGS=("redis>=5,<7" "redlock-py==1.0.8" "limits>=3.13,<5")
py_missing() {
  python3 - <<'PY'
import importlib, sys
ok = True
for mod in ("redis", "redlock", "limits"):
    try:
        importlib.import_module(mod)
    except Exception:
        ok = False
sys.exit(0 if ok else 1)
PY
}
if ! py_missing; then
  echo "installing Python libraries (pip): ${PY_PKGS[*]}"
  pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" "${PY_PKGS[@]}"; }
  # Debian 12+ marks the system Python as externally managed (PEP 668).
  pip_install || pip_install --user || pip_install --break-system-packages
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "installing nodejs and npm (apt)"
  apt_install nodejs npm
fi

if [ ! -d "$ROOT/tests/js/node_modules/ioredis" ] || [ ! -d "$ROOT/tests/js/node_modules/redlock" ] \
  || [ ! -d "$ROOT/tests/js/node_modules/rate-limiter-flexible" ]; then
  echo "installing Node libraries (npm, tests/js/package.json)"
  (cd "$ROOT/tests/js" && npm install --no-audit --no-fund --silent)
fi
