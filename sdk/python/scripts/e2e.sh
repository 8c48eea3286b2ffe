#!/usr/bin/env bash
# The live scenario against a running Wrenn (tests/sdk/run.sh provides the
# stack and WRENN_BASE_URL, WRENN_API_KEY, WRENN_ADMIN_TOKEN, WRENN_DOMAIN,
# WRENN_TEST_CA). Installs the SDK as a user would (pip install ./sdk/python
# into a fresh venv), runs e2e/scenario.py, the README quickstart exactly as
# written and the agent-loop example. Last line: "sdk-python: N passed, M failed".
set -euo pipefail

SDK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$SDK/../.." && pwd)"
VENV="$REPO/target/sdk-python-e2e-venv"
. "$SDK/../scripts/e2e-lib.sh"
e2e_begin sdk-python

rm -rf "$VENV"
python3 -m venv "$VENV"
rc=0
(cd "$WORK" && "$VENV/bin/pip" install -q --disable-pip-version-check "$SDK") || rc=$?
tally "pip install ./sdk/python into a fresh venv" "$rc"
e2e_installed "$rc"
# the installed copy, not the checkout, must be what runs
(cd "$WORK" && "$VENV/bin/python" -c 'import wrenn, sys; assert "site-packages" in wrenn.__file__, wrenn.__file__')

# README quickstart, exactly as written (the first python block after "## Quickstart")
python3 - "$SDK/README.md" >"$WORK/quickstart.py" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("## Quickstart", 1)[1]
print(re.search(r"```python\n(.*?)```", section, re.S).group(1), end="")
PY
rc=0
out=$(cd "$WORK" && "$VENV/bin/python" quickstart.py 2>&1) || rc=$?
echo "$out"
if [[ "$rc" -eq 0 ]] && ! grep -q "^hello from " <<<"$out"; then rc=1; fi
tally "README quickstart" "$rc"

rc=0
out=$(cd "$WORK" && "$VENV/bin/python" "$SDK/examples/agent_loop.py" 2>&1) || rc=$?
echo "$out"
if [[ "$rc" -eq 0 ]] && ! grep -q "^total 30" <<<"$out"; then rc=1; fi
tally "examples/agent_loop.py" "$rc"

rc=0
(cd "$WORK" && "$VENV/bin/python" "$SDK/e2e/scenario.py") | tee "$WORK/scenario.log" || rc=$?
e2e_scenario "$WORK/scenario.log" "$rc"
e2e_finish
