#!/usr/bin/env bash
# Issue #13's figures for the Python SDK against $WRENN_BENCH_SANDBOX (a
# running sandbox of tests/sdk/run.sh sdk-bench): JSON lines on stdout.
set -euo pipefail

SDK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$SDK/../.." && pwd)"
: "${WRENN_BENCH_SANDBOX:?}" "${WRENN_BASE_URL:?}" "${WRENN_API_KEY:?}"
. "$REPO/tests/lib/venv.sh"
VENV=$(venv_ready "${WRENN_SDK_PY_VENV:-$REPO/target/sdk-python-venv}" -r "$SDK/requirements-dev.txt")
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$SDK" >&2
exec "$VENV/bin/python" "$SDK/scripts/bench.py"
