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
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
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

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
random_text() { python3 -c "import secrets, sys; print(secrets.token_urlsafe(64)[:int(sys.argv[1])])" "$1"; }
wait_health() { # URL PID SECONDS
    for _ in $(seq 1 $(($3 * 10))); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

work=$(mktemp -d)
agent_port=$(free_port)
cp_port=$(free_port)
secret=$(random_text 40)
cp_url="http://127.0.0.1:$cp_port"
agent_pid=""
cp_pid=""

stop() { # PID
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# destroy_sandboxes KEY: DELETE every sandbox of the key's team not stopped.
destroy_sandboxes() {
    local ids id
    ids=$(curl -fsS -H "Authorization: Bearer $1" "$cp_url/v1/sandboxes?limit=200" |
        python3 -c 'import json, sys; print("\n".join(s["id"] for s in json.load(sys.stdin)["sandboxes"] if s["state"] != "stopped"))') ||
        return 1
    for id in $ids; do
        curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $1" "$cp_url/v1/sandboxes/$id" ||
            { echo "cannot destroy sandbox $id" >&2; return 1; }
    done
    echo "destroyed $(echo "$ids" | grep -c .) sandboxes"
}

cleanup() {
    stop "$cp_pid"
    stop "$agent_pid"
    rm -rf "$work"
}
trap cleanup EXIT

AGENT_SECRET=$secret AGENT_LISTEN_ADDR="127.0.0.1:$agent_port" \
    "$bin/wrenn-agent" serve >"$logs/schemathesis-agent.log" 2>&1 &
agent_pid=$!
wait_health "http://127.0.0.1:$agent_port/health" "$agent_pid" 60 ||
    { tail -20 "$logs/schemathesis-agent.log"; fail "the agent did not start"; }

DATABASE_URL="sqlite://$work/cp.db" CP_JWT_SECRET=$(random_text 48) \
    CP_LISTEN_ADDR="127.0.0.1:$cp_port" CP_AGENT_URL="http://127.0.0.1:$agent_port" \
    CP_AGENT_SECRET=$secret CP_MAX_SANDBOXES_PER_TEAM=2 \
    "$bin/wrenn-cp" >"$logs/schemathesis-cp.log" 2>&1 &
cp_pid=$!
wait_health "$cp_url/health" "$cp_pid" 60 ||
    { tail -20 "$logs/schemathesis-cp.log"; fail "the control plane did not start"; }

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -fsS -H 'Content-Type: application/json' "$cp_url/v1/auth/signup" \
    -d '{"email":"fuzz@wrenn.test","password":"schemathesis-password"}' | json_field '["token"]') ||
    fail "signup"
key=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    "$cp_url/v1/keys" -d '{"name":"schemathesis"}' | json_field '["key"]') ||
    fail "API key"

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

destroy_sandboxes "$key" || { rc=1; echo "sandbox clean-up failed" >&2; }
stop "$cp_pid"
cp_pid=""
stop "$agent_pid"
agent_pid=""
leftover=$(ip netns list 2>/dev/null | grep -c '^wrn-')
[ "$leftover" -eq 0 ] || { rc=1; echo "$leftover wrn-* network namespaces left behind" >&2; ip netns list >&2; }

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
