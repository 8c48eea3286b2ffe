#!/usr/bin/env bash
# Lint, type check, unit tests, build and API reference of the Python SDK.
# No live stack needed. Installs the pinned dev tools into
# target/sdk-python-venv. Last line: "sdk-python-unit: N passed, M failed"
# (M counts failed tests and failed steps).
set -euo pipefail

SDK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$SDK/../.." && pwd)"
. "$REPO/tests/lib/venv.sh"
VENV=$(venv_ready "${WRENN_SDK_PY_VENV:-$REPO/target/sdk-python-venv}" -r "$SDK/requirements-dev.txt")
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$SDK"

cd "$SDK"
export PATH="$VENV/bin:$PATH"
failed_steps=0
step() {
  local name="$1"
  shift
  echo "== $name"
  if "$@"; then
    echo "ok: $name"
  else
    echo "FAILED: $name"
    failed_steps=$((failed_steps + 1))
  fi
}

step "generated files match openapi.json, protos and wrenn/_async" python scripts/gen.py --check
step "ruff check" ruff check wrenn tests scripts examples e2e
step "ruff format --check" ruff format --check wrenn tests scripts examples e2e
step "mypy --strict" mypy
JUNIT="$REPO/target/sdk-python-junit.xml"
rm -f "$JUNIT"
step "pytest" python -m pytest -q -p no:cacheprovider --timeout 60 --junitxml "$JUNIT"
WHEELS="$REPO/target/sdk-python-dist"
rm -rf "$WHEELS"
step "build wheel and sdist" python -m pip wheel -q --disable-pip-version-check --no-deps -w "$WHEELS" "$SDK"
step "API reference (pdoc)" pdoc -d restructuredtext -o "$REPO/target/sdk-docs/python" wrenn

read -r passed tfailed < <(python - "$JUNIT" <<'PY'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1)
    raise SystemExit
suites = [root] if root.tag == "testsuite" else list(root)
total = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(total - bad - skipped, bad)
PY
)
echo "sdk-python-unit: $passed passed, $((tfailed + failed_steps)) failed"
[[ $((tfailed + failed_steps)) -eq 0 ]]
