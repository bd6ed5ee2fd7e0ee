#!/usr/bin/env bash
# The Python client's checks, for scripts/test.sh and for a developer:
#   installs what the checks need (pip; quiet and quick when already there), then
#   ruff check, mypy --strict, a fresh-venv `pip install`, and the pytest suite against
#   real fencepost processes from $FENCEPOST_BIN (default: target/debug/fencepost).
# Exits non-zero on any failure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
export FENCEPOST_BIN=${FENCEPOST_BIN:-$ROOT/target/debug/fencepost}

deps=('redis>=5,<7' starlette uvicorn httpx pytest 'pytest-asyncio>=0.23' mypy ruff)
have_deps() {
  "$PY" - <<'PY' >/dev/null 2>&1
import redis, starlette, uvicorn, httpx, pytest, pytest_asyncio, mypy, ruff, sys
sys.exit(0 if int(redis.__version__.split(".")[0]) >= 5 else 1)
PY
}
if ! have_deps; then
  echo "== installing the Python client's test dependencies (pip)"
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    # shellcheck source=../../scripts/lib/apt.sh
    . "$ROOT/scripts/lib/apt.sh"
    apt_install python3-pip python3-venv
  fi
  pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@" "${deps[@]}"; }
  # PEP 668 (externally managed system Python): fall back as install-test-deps.sh does.
  pip_install || pip_install --user || pip_install --break-system-packages
fi

cd "$HERE"
echo "== ruff check"
"$PY" -m ruff check .
echo "== mypy --strict"
"$PY" -m mypy --strict
echo "== fresh venv: pip install ./client/python"
bash "$HERE/build_check.sh"
echo "== pytest (FENCEPOST_BIN=$FENCEPOST_BIN)"
if ! "$FENCEPOST_BIN" --version >/dev/null 2>&1; then
  echo "fencepost binary not runnable at $FENCEPOST_BIN (build it or set FENCEPOST_BIN)" >&2
  exit 1
fi
"$PY" -m pytest -q -rs -p no:cacheprovider tests
