#!/usr/bin/env bash
# The e2b SDK suites (issue #12's acceptance) against a real Wrenn over TLS:
# a `wrenn-agent serve` on this host (root; kernel and the `base` image in
# /var/lib/wrenn) and a `wrenn-cp` from target/debug on a fresh SQLite
# database, with an HTTPS listener whose certificate for *.wrenn.localhost
# is signed by a throw-away CA (deploy/local-tls.sh, WRENN_TLS_SYSTEM=no),
# WRENN_DOMAIN=wrenn.localhost:<port>, names resolving to loopback
# (libnss-myhostname: deploy/setup-host.sh or deploy/local-tls.sh).
#   e2b-py     pytest, the latest e2b and e2b-code-interpreter (requirements-latest.txt)
#   e2b-py24   the same SDK tests with e2b 2.45 (requirements-24x.txt)
#   e2b-node   node:test with the e2b npm package (node/package-lock.json)
#   tests/e2b/run.sh [e2b-py] [e2b-py24] [e2b-node]      (all three by default)
# Each prints `NAME: N passed, M failed, X xfailed`; tests needing features
# listed in pending.json are strict expected failures. Exits non-zero on any
# failure. Takes flock /tmp/wrenn-vm.lock itself (one agent per machine).
# Sandboxes it made are destroyed; no wrn-* network namespace may be left.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
here=tests/e2b
logs="$root/target/test-logs"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
mkdir -p "$logs"
[ $# -gt 0 ] && suites=("$@") || suites=(e2b-py e2b-py24 e2b-node)
for s in "${suites[@]}"; do
    case $s in e2b-py | e2b-py24 | e2b-node | e2b-bench) ;; *) echo "unknown suite '$s' (e2b-py, e2b-py24, e2b-node; e2b-bench: bench/suites/e2b-proxy)" >&2; exit 2 ;; esac
done

fail() { # REASON: every suite failed to start
    echo "e2b: $1" >&2
    for s in "${suites[@]}"; do echo "$s: 0 passed, 1 failed"; done
    exit 1
}

# venv DIR REQUIREMENTS: a virtual environment with exactly those pins,
# made again when the requirements file changes.
venv() {
    local stamp="$1/.requirements"
    if [ -x "$1/bin/python" ] && cmp -s "$2" "$stamp"; then return 0; fi
    rm -rf "$1" && python3 -m venv "$1" && "$1/bin/pip" install -q -r "$2" && cp "$2" "$stamp"
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail "must run as root (the agent makes namespaces and TAP devices)"
    for s in "${suites[@]}"; do
        case $s in
            e2b-py | e2b-bench) venv "$root/target/e2b-venv-latest" "$here/requirements-latest.txt" || fail "pip install -r $here/requirements-latest.txt" ;;
            e2b-py24) venv "$root/target/e2b-venv-24x" "$here/requirements-24x.txt" || fail "pip install -r $here/requirements-24x.txt" ;;
            e2b-node)
                node --version 2>/dev/null | grep -Eq '^v(2[0-9]|[3-9][0-9])\.' || fail "node 20 or later is needed for e2b-node"
                if ! cmp -s "$here/node/package-lock.json" "$here/node/node_modules/.package-lock.json.ci" 2>/dev/null; then
                    (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in $here/node"
                    cp "$here/node/package-lock.json" "$here/node/node_modules/.package-lock.json.ci"
                fi
                ;;
        esac
    done
    cargo build -q -p wrenn-agent -p wrenn-cp -p wrenn-cli || fail "cargo build"
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

domain_host=wrenn.localhost
answer=$(getent hosts "3000-check.$domain_host" || true)
case $answer in
    127.0.0.1* | ::1*) ;;
    *) fail "3000-check.$domain_host does not resolve to loopback: run deploy/local-tls.sh (or deploy/setup-host.sh --packages and add myhostname to the hosts: line of /etc/nsswitch.conf)" ;;
esac

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
stop() { # PID
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# Namespaces of other runs (an agent killed earlier) are not ours to judge.
netns_before=$(ip netns list 2>/dev/null | awk '/^wrn-/ { print $1 }' | sort)
work=$(mktemp -d)
agent_pid=""
cp_pid=""
cleanup() {
    stop "$cp_pid"
    stop "$agent_pid"
    rm -rf "$work"
}
trap cleanup EXIT

WRENN_BUILDER=e2b WRENN_TLS_DIR="$work/tls" WRENN_TLS_SYSTEM=no \
    bash deploy/local-tls.sh "$domain_host" root >"$logs/e2b-tls.log" 2>&1 ||
    { cat "$logs/e2b-tls.log"; fail "deploy/local-tls.sh"; }
ca="$work/tls/ca.crt"

agent_port=$(free_port)
cp_port=$(free_port)
tls_port=$(free_port)
secret=$(random_text 40)
cp_url="http://127.0.0.1:$cp_port"
domain="$domain_host:$tls_port"

AGENT_SECRET=$secret AGENT_LISTEN_ADDR="127.0.0.1:$agent_port" \
    "$bin/wrenn-agent" serve >"$logs/e2b-agent.log" 2>&1 &
agent_pid=$!
wait_health "http://127.0.0.1:$agent_port/health" "$agent_pid" 60 ||
    { tail -20 "$logs/e2b-agent.log"; fail "the agent did not start"; }

DATABASE_URL="sqlite://$work/cp.db" CP_JWT_SECRET=$(random_text 48) \
    CP_LISTEN_ADDR="127.0.0.1:$cp_port" CP_AGENT_URL="http://127.0.0.1:$agent_port" \
    CP_AGENT_SECRET=$secret CP_MAX_SANDBOXES_PER_TEAM=20 CP_RATE_LIMIT=off \
    CP_TLS_LISTEN_ADDR="127.0.0.1:$tls_port" WRENN_DOMAIN="$domain" \
    CP_TLS_CERT_FILE="$work/tls/$domain_host.crt" CP_TLS_KEY_FILE="$work/tls/$domain_host.key" \
    "$bin/wrenn-cp" >"$logs/e2b-cp.log" 2>&1 &
cp_pid=$!
wait_health "$cp_url/health" "$cp_pid" 60 ||
    { tail -20 "$logs/e2b-cp.log"; fail "the control plane did not start"; }
curl -fsS --cacert "$ca" -o /dev/null "https://$domain/health" ||
    { tail -20 "$logs/e2b-cp.log"; fail "https://$domain/health did not answer"; }

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -fsS -H 'Content-Type: application/json' "$cp_url/v1/auth/signup" \
    -d '{"email":"e2b@wrenn.test","password":"e2b-suite-password"}' | json_field '["token"]') || fail "signup"
key=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    "$cp_url/v1/keys" -d '{"name":"e2b-suite"}' | json_field '["key"]') || fail "API key"
# A key in E2B's form (e2b_<hex>) for the 2.4x SDK, which refuses others;
# where the API cannot mint one yet, that SDK is told not to check.
e2b_key=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    "$cp_url/v1/keys" -d '{"name":"e2b-suite-24x","e2b":true}' 2>/dev/null | json_field '["key"]' 2>/dev/null) || e2b_key=""

# What an e2b user sets (README, "Use the E2B SDK with Wrenn"), plus what
# the tests use to look behind the SDK.
export E2B_DOMAIN=$domain E2B_API_KEY=$key SSL_CERT_FILE=$ca NODE_EXTRA_CA_CERTS=$ca
export WRENN_E2B_CA=$ca WRENN_API_URL=$cp_url WRENN_API_KEY=$key WRENN_CLI="$bin/wrenn"
export WRENN_AGENT_URL="http://127.0.0.1:$agent_port" WRENN_AGENT_SECRET=$secret
unset E2B_API_URL E2B_SANDBOX_URL E2B_DEBUG SSL_CERT_DIR

# destroy_sandboxes: DELETE every sandbox of the suite's team not stopped.
destroy_sandboxes() {
    local ids id
    ids=$(curl -fsS -H "Authorization: Bearer $key" "$cp_url/v1/sandboxes?limit=200" |
        python3 -c 'import json, sys; print("\n".join(s["id"] for s in json.load(sys.stdin)["sandboxes"] if s["state"] != "stopped"))') ||
        return 1
    for id in $ids; do
        curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $key" "$cp_url/v1/sandboxes/$id" ||
            { echo "cannot destroy sandbox $id" >&2; return 1; }
    done
}

status=0
lines=()
for suite in "${suites[@]}"; do
    echo "=== $suite"
    log="$logs/$suite.log"
    case $suite in
        e2b-py)
            (cd "$here/py" && E2B_SUITE=$suite "$root/target/e2b-venv-latest/bin/python" -m pytest -p no:cacheprovider \
                -o junit_family=xunit2 -rfEX test_stack.py test_sdk.py test_readme.py test_code_interpreter.py) 2>&1 | tee "$log"
            ;;
        e2b-py24)
            # 2.4x refuses keys that are not e2b_<hex> unless told not to.
            if [ -n "$e2b_key" ]; then key_env=(E2B_API_KEY="$e2b_key"); else key_env=(E2B_VALIDATE_API_KEY=false); fi
            (cd "$here/py" && env E2B_SUITE=$suite "${key_env[@]}" "$root/target/e2b-venv-24x/bin/python" -m pytest \
                -p no:cacheprovider -rfEX test_sdk.py test_readme.py) 2>&1 | tee "$log"
            ;;
        e2b-bench)
            # Rows, not a tally: the line below says whether it ran.
            "$root/target/e2b-venv-latest/bin/python" "$here/bench.py" 2>&1 | tee "$log"
            rc=${PIPESTATUS[0]}
            echo "$suite: $((rc == 0)) passed, $((rc != 0)) failed" | tee -a "$log"
            (exit "$rc")
            ;;
        e2b-node)
            (cd "$here/node" && node --test --test-concurrency=1 --test-reporter=spec sdk.test.mjs) 2>&1 | tee "$log"
            ;;
    esac
    rc=${PIPESTATUS[0]}
    line=$(grep -E "^$suite: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n1)
    [ -n "$line" ] || line="$suite: 0 passed, 1 failed"
    if [ "$rc" -ne 0 ] && ! grep -Eq ", [1-9][0-9]* failed" <<<"$line"; then
        line="$suite: 0 passed, 1 failed (exit status $rc; log: $log)"
    fi
    [ "$rc" -eq 0 ] || status=1
    lines+=("$line")
done

destroy_sandboxes || { status=1; echo "sandbox clean-up failed" >&2; }
stop "$cp_pid"
cp_pid=""
stop "$agent_pid"
agent_pid=""
leftover=$(comm -13 <(echo "$netns_before") <(ip netns list 2>/dev/null | awk '/^wrn-/ { print $1 }' | sort) | grep -c .)
[ "$leftover" -eq 0 ] || { status=1; echo "$leftover wrn-* network namespaces left behind" >&2; ip netns list >&2; }
printf '%s\n' "${lines[@]}"
exit "$status"
