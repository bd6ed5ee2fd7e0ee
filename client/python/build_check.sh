#!/usr/bin/env bash
# The install a user does: a fresh venv, `pip install ./client/python`, import it; then
# the `asgi` extra. Proves pyproject.toml builds from a clean environment (PyPI deps only).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -rf "$HERE/build" "$HERE"/src/*.egg-info' EXIT

"$PY" -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "$HERE"
"$tmp/venv/bin/python" -c 'import fencepost, fencepost.aio; print("import fencepost", fencepost.__version__, "ok")'
"${pip[@]}" "$HERE[asgi]"
"$tmp/venv/bin/python" -c 'import fencepost.asgi; print("import fencepost.asgi ok")'
# py.typed ships, so type checkers read the package's annotations.
"$tmp/venv/bin/python" - <<'PY'
import importlib.resources as r
assert r.files("fencepost").joinpath("py.typed").is_file(), "py.typed missing from the wheel"
print("py.typed shipped")
PY
