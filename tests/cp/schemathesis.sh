#!/usr/bin/env bash
# Property-based test of the REST API: schemathesis generates requests from
# the served /openapi.json and checks every answer (no 5xx, answers match
# their documented schema) against a real control plane on a fresh SQLite
# database driving a real `wrenn-agent serve` on this host (root; kernel and
# the `base` image in /var/lib/wrenn). Sandboxes it created are destroyed at
# the end and no `wrn-*` network namespace may be left.
# The agent runs under `flock /tmp/wrenn-vm.lock` (one agent per machine).
#   tests/cp/schemathesis.sh [extra schemathesis options]
# Environment: SCHEMATHESIS_MAX_EXAMPLES (25), SCHEMATHESIS_SEED (random).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
schemathesis_version=4.32.5
. "$root/tests/lib/venv.sh"
logs="$root/target/test-logs"
mkdir -p "$logs"

fail() { # REASON
    echo "schemathesis: $1" >&2
    echo "schemathesis: 0 passed, 1 failed"
    exit 1
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail "must run as root (the agent makes namespaces and TAP devices)"
    venv_ready "$root/target/schemathesis-venv" "schemathesis==$schemathesis_version" >/dev/null ||
        fail "pip install schemathesis==$schemathesis_version"
    cargo build -q -p wrenn-agent -p wrenn-cp || fail "cargo build"
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi
# Made above, before the lock; this only resolves its path.
venv=$(venv_ready "$root/target/schemathesis-venv" "schemathesis==$schemathesis_version") || fail "venv"

. "$root/tests/lib/stack.sh"
# The control plane's own rate limits, and a cap of 2 sandboxes so that
# schemathesis meets the refusal without filling the host.
stack_start schemathesis --no-tls CP_MAX_SANDBOXES_PER_TEAM=2 CP_RATE_LIMIT=on ||
    fail "the stack did not start"
cp_url=$STACK_URL
stack_account fuzz@wrenn.test || fail "signup and API key"
key=$ACCOUNT_KEY

seed_args=()
[ -n "${SCHEMATHESIS_SEED:-}" ] && seed_args=(--seed "$SCHEMATHESIS_SEED")
junit="$logs/schemathesis.xml"
rm -f "$junit"
# WebSocket routes (exec/ws, pty) cannot be driven by schemathesis.
# Run from target/ so its replay store (.schemathesis/) stays out of the tree.
(cd "$root/target" && "$venv/bin/schemathesis" run "$cp_url/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path-regex '/(exec/ws|pty)$' \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
    --request-timeout 120 \
    --generation-database ":memory:" \
    --no-color \
    --report junit --report-junit-path "$junit" \
    "${seed_args[@]}" "$@")
rc=$?

stack_destroy_sandboxes "$key" || { rc=1; echo "sandbox clean-up failed" >&2; }
stack_stop
stack_leftovers || rc=1

python3 - "$junit" "$rc" <<'PY'
import sys, xml.etree.ElementTree as ET
path, rc = sys.argv[1], int(sys.argv[2])
try:
    cases = ET.parse(path).getroot().iter("testcase")
    passed = failed = 0
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
except Exception:
    passed, failed = 0, 0
if rc != 0 and failed == 0:
    failed = 1
print(f"schemathesis: {passed} passed, {failed} failed")
PY
exit "$rc"
