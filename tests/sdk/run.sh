#!/usr/bin/env bash
# The Python, TypeScript and Go SDKs (issue #13's acceptance).
#   tests/sdk/run.sh [python] [typescript] [go]   (all three by default)
#   tests/sdk/run.sh sdk-bench                    (bench/suites/sdk)
# For each SDK, first `sdk/<lang>/scripts/check.sh` (lint, types, unit
# tests, build, API reference; no server), then, under
# flock /tmp/wrenn-vm.lock, `sdk/<lang>/scripts/e2e.sh` against a real
# agent + control plane (tests/lib/stack.sh) with real VMs: the scenario of
# the issue, the SDK installed as a user would and its README quickstart.
# The e2e scripts get WRENN_BASE_URL, WRENN_API_KEY (a fresh team's key),
# WRENN_ADMIN_TOKEN (the platform admin's session), WRENN_DOMAIN (https)
# and its CA in SSL_CERT_FILE / NODE_EXTRA_CA_CERTS / WRENN_TEST_CA.
# Prints `sdk-<lang>-unit: …` and `sdk-<lang>: N passed, M failed` per
# SDK; exits non-zero on any failure or a sandbox or namespace left.
# WRENN_BIN_DIR: use these wrenn-agent/wrenn-cp/wrenn binaries (no build).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$HOME/go/bin:/usr/local/go/bin:$PATH"
logs="$root/target/test-logs"
mkdir -p "$logs"
[ $# -gt 0 ] && langs=("$@") || langs=(python typescript go)
bench=no
for l in "${langs[@]}"; do
    case $l in python | typescript | go) ;; sdk-bench) bench=yes ;; *) echo "unknown SDK '$l' (python, typescript, go; sdk-bench)" >&2; exit 2 ;; esac
done
[ "$bench" = no ] || langs=(python typescript go)

fail_all() { # REASON
    echo "sdk: $1" >&2
    for l in "${langs[@]}"; do echo "sdk-$l: 0 passed, 1 failed"; done
    exit 1
}

# tally NAME LOG RC: the script's own closing line, or a failure.
tally() {
    local line
    line=$(grep -E "^$1: [0-9]+ passed, [0-9]+ failed" "$2" | tail -n1)
    [ -n "$line" ] || line="$1: 0 passed, 1 failed"
    if [ "$3" -ne 0 ] && ! grep -Eq ", [1-9][0-9]* failed" <<<"$line"; then
        line="$1: 0 passed, 1 failed (exit status $3; log: $2)"
    fi
    echo "$line"
}

status=0
lines=()
if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail_all "must run as root (the agent makes namespaces and TAP devices)"
    if [ "$bench" = no ]; then
        for l in "${langs[@]}"; do
            echo "=== sdk-$l-unit"
            log="$logs/sdk-$l-unit.log"
            bash "sdk/$l/scripts/check.sh" 2>&1 | tee "$log"
            rc=${PIPESTATUS[0]}
            [ "$rc" -eq 0 ] || status=1
            lines+=("$(tally "sdk-$l-unit" "$log" "$rc")")
        done
    fi
    if [ "$bench" = yes ]; then
        # The yardstick: the e2b SDK the e2b suite pins.
        venv=$root/target/e2b-venv-latest req=tests/e2b/requirements-latest.txt
        . "$root/tests/lib/venv.sh"
        venv_ready "$venv" -r "$req" >/dev/null || fail_all "pip install -r $req"
    fi
    if [ -z "${WRENN_BIN_DIR:-}" ]; then
        cargo build -q -p wrenn-agent -p wrenn-cp -p wrenn-cli || fail_all "cargo build"
    fi
    printf '%s\n' "${lines[@]}" >"$logs/sdk-unit.lines"
    WRENN_VM_LOCKED=$status exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi
status=$WRENN_VM_LOCKED
mapfile -t lines <"$logs/sdk-unit.lines"

. tests/lib/stack.sh
stack_start sdk || fail_all "the stack did not start"
stack_account admin@sdk.test || fail_all "admin account"
export WRENN_ADMIN_TOKEN=$ACCOUNT_TOKEN
stack_account sdk@sdk.test || fail_all "user account"
export WRENN_BASE_URL=$STACK_URL WRENN_API_KEY=$ACCOUNT_KEY WRENN_DOMAIN=$STACK_DOMAIN
export WRENN_TEST_CA=$STACK_CA SSL_CERT_FILE=$STACK_CA NODE_EXTRA_CA_CERTS=$STACK_CA
# The SDKs must not pick up the machine's own CLI configuration.
WRENN_CONFIG_DIR=$(mktemp -d)
export WRENN_CONFIG_DIR
unset WRENN_API_URL E2B_API_KEY E2B_DOMAIN

if [ "$bench" = yes ]; then
    # One running sandbox that every SDK (and the e2b SDK, the yardstick)
    # drives in the same run.
    export E2B_DOMAIN=$STACK_DOMAIN E2B_API_KEY=$ACCOUNT_KEY
    WRENN_BENCH_SANDBOX=$(curl -fsS -H "Authorization: Bearer $ACCOUNT_KEY" -H 'Content-Type: application/json' \
        "$STACK_URL/v1/sandboxes" -d '{"timeout_secs":1800}' | json_field '["id"]') || fail_all "bench sandbox"
    export WRENN_BENCH_SANDBOX
    "$root/target/e2b-venv-latest/bin/python" tests/sdk/bench.py 2>&1 | tee "$logs/sdk-bench.log"
    rc=${PIPESTATUS[0]}
    stack_destroy_sandboxes "$ACCOUNT_KEY" || rc=1
    stack_stop
    exit "$rc"
fi

for l in "${langs[@]}"; do
    echo "=== sdk-$l"
    log="$logs/sdk-$l.log"
    bash "sdk/$l/scripts/e2e.sh" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || status=1
    # Every SDK cleans up after itself: what is left is its failure.
    left=$(curl -fsS -H "Authorization: Bearer $ACCOUNT_KEY" "$STACK_URL/v1/sandboxes?limit=200" |
        python3 -c 'import json, sys; print(sum(s["state"] not in ("stopped",) for s in json.load(sys.stdin)["sandboxes"]))')
    if [ "${left:-1}" != 0 ]; then
        echo "sdk-$l left $left sandboxes behind" >&2
        status=1
        stack_destroy_sandboxes "$ACCOUNT_KEY"
    fi
    lines+=("$(tally "sdk-$l" "$log" "$rc")")
done

stack_destroy_sandboxes "$ACCOUNT_KEY" || { status=1; echo "sandbox clean-up failed" >&2; }
stack_stop
stack_leftovers || status=1
printf '%s\n' "${lines[@]}"
exit "$status"
