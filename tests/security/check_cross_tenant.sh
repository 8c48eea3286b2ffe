#!/usr/bin/env bash
# Cross-tenant property test generated from the served /openapi.json
# (tests/security/cross_tenant/cross_tenant.py says what it asserts): every
# operation that takes an id of a tenant-owned object, called with team B's
# credentials and one of team A's ids, answers 404 (or its documented
# exemption, identical for an id that does not exist) and changes nothing
# of team A's. Runs against a real `wrenn-cp` on a fresh SQLite database and
# on a fresh PostgreSQL database, each with a real `wrenn-agent serve`
# registered as team A's host (root; kernel and the `base` image in
# /var/lib/wrenn; the agent runs under `flock /tmp/wrenn-vm.lock`).
# Environment: CROSS_TENANT_EXAMPLES (hypothesis examples per operation,
# 15), CROSS_TENANT_SEED (random), CROSS_TENANT_BACKENDS ("sqlite postgres"),
# WRENN_TEST_POSTGRES_URL (postgres://postgres:wrenn@127.0.0.1:5432/postgres).
# Prints `cross_tenant: N passed, M failed` (N, M: operations over backends).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
hypothesis_version=6.170.17
venv="$root/target/security-venv"
logs="$root/target/test-logs"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
pg_url=${WRENN_TEST_POSTGRES_URL:-postgres://postgres:wrenn@127.0.0.1:5432/postgres}
backends=${CROSS_TENANT_BACKENDS:-sqlite postgres}
mkdir -p "$logs"

fail() { # REASON
    echo "cross_tenant: $1" >&2
    echo "cross_tenant: 0 passed, 1 failed"
    exit 1
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail "must run as root (the agent makes namespaces and TAP devices)"
    . "$root/tests/lib/venv.sh"
    venv_ready "$venv" "hypothesis==$hypothesis_version" >/dev/null || fail "pip install hypothesis==$hypothesis_version"
    case " $backends " in
    *" postgres "*) psql "$pg_url" -Atqc 'SELECT 1' >/dev/null 2>&1 || fail "PostgreSQL at $pg_url does not answer" ;;
    esac
    cargo build -q -p wrenn-agent -p wrenn-cp || fail "cargo build"
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

. "$root/tests/lib/stack.sh"
database=""
cleanup() {
    if [ -n "$stack_work" ] && [ -f "$stack_work/agent.pid" ]; then
        # The test stops its agent; this is for a test that died.
        stop_pid "$(cat "$stack_work/agent.pid")"
    fi
    stack_stop
    if [ -n "$database" ]; then
        psql "$pg_url" -Atqc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 ||
            echo "warning: could not drop database $database" >&2
        database=""
    fi
}
trap cleanup EXIT

passed=0
failed=0
seed=${CROSS_TENANT_SEED:-$(python3 -c 'import random; print(random.randrange(1 << 30))')}
for backend in $backends; do
    case $backend in
    sqlite) db_url="" ;;
    postgres)
        database="wrenn_xt_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
        psql "$pg_url" -Atqc "CREATE DATABASE $database" >/dev/null || fail "create database $database"
        db_url="${pg_url%/*}/$database"
        ;;
    *) fail "unknown backend $backend" ;;
    esac
    # No agent of the stack's: the test's own registers as team A's host.
    # Private host addresses allowed (the agent is on loopback); rate
    # limits off; the control plane's own sandbox cap.
    if ! stack_start cross-tenant --no-tls --no-agent ${db_url:+--db "$db_url"} --cp-log "cross-tenant-cp-$backend.log" \
        CP_ALLOW_PRIVATE_HOST_ADDRS=true CP_RATE_LIMIT=off CP_MAX_SANDBOXES_PER_TEAM=100 CP_HOST_HEARTBEAT_SECS=2; then
        failed=$((failed + 1))
        cleanup
        continue
    fi
    out="$logs/cross-tenant-$backend.out"
    "$venv/bin/python" "$root/tests/security/cross_tenant/cross_tenant.py" \
        --cp "$STACK_URL" --bin "$bin" --work "$stack_work" --logs "$logs" --label "$backend" \
        --agent-port "$(free_port)" --examples "${CROSS_TENANT_EXAMPLES:-15}" --seed "$seed" 2>&1 | tee "$out"
    line=$(grep -E '^\[[a-z]+\] cross_tenant: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
    if [ -n "$line" ]; then
        read -r p f <<<"$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')"
        passed=$((passed + p))
        failed=$((failed + f))
    else
        echo "[$backend] the test did not finish" >&2
        failed=$((failed + 1))
    fi
    cleanup
    stack_leftovers || { echo "[$backend] namespaces left behind" >&2; failed=$((failed + 1)); }
done
echo "cross_tenant: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
