#!/usr/bin/env bash
# The e2b SDK suites (issue #12's acceptance) against a real Wrenn over TLS
# (tests/lib/stack.sh: a real agent and control plane, an HTTPS listener for
# *.wrenn.localhost signed by a throw-away CA, WRENN_DOMAIN set).
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

. "$root/tests/lib/venv.sh"
# venv DIR REQUIREMENTS: a virtual environment with exactly those pins.
venv() { venv_ready "$1" -r "$2" >/dev/null; }

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

. tests/lib/stack.sh
# `Template().from_image(...)` pulls from a local registry this script
# starts (plain HTTP, password auth: tests/builds/oci-registry.sh), which
# the control plane is told it may reach without TLS.
if [[ " ${suites[*]} " == *" e2b-py "* ]]; then
    . tests/builds/oci-registry.sh
    oci_dir=$(mktemp -d /tmp/wrenn-e2b-oci.XXXXXX)
    # Our own EXIT trap, so it stops the stack too (tests/lib/stack.sh).
    trap 'stack_stop; oci_registry_stop; rm -rf "$oci_dir"' EXIT
    oci_registry_start "$oci_dir" && oci_image_push "$oci_dir" "127.0.0.1:$OCI_PORT/test/img:1" >/dev/null ||
        fail "the local OCI registry (tests/builds/oci-registry.sh) did not start"
    export WRENN_TEST_OCI_IMAGE="127.0.0.1:$OCI_PORT/test/img:1" WRENN_TEST_OCI_USER=$OCI_USER \
        WRENN_TEST_OCI_PASSWORD=$OCI_PASSWORD CP_INSECURE_REGISTRIES=127.0.0.1
fi
stack_start e2b || fail "the stack did not start"
cp_url=$STACK_URL domain=$STACK_DOMAIN ca=$STACK_CA
stack_account e2b@wrenn.test || fail "signup and API key"
token=$ACCOUNT_TOKEN key=$ACCOUNT_KEY
# A key in E2B's form (e2b_<hex>) for the 2.4x SDK, which refuses others;
# where the API cannot mint one yet, that SDK is told not to check.
e2b_key=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    "$cp_url/v1/keys" -d '{"name":"e2b-suite-24x","e2b":true}' 2>/dev/null | json_field '["key"]' 2>/dev/null) || e2b_key=""

# What an e2b user sets (README, "Use the E2B SDK with Wrenn"), plus what
# the tests use to look behind the SDK.
export E2B_DOMAIN=$domain E2B_API_KEY=$key SSL_CERT_FILE=$ca NODE_EXTRA_CA_CERTS=$ca
export WRENN_E2B_CA=$ca WRENN_API_URL=$cp_url WRENN_API_KEY=$key WRENN_CLI="$stack_bin/wrenn"
export WRENN_AGENT_URL=$STACK_AGENT_URL WRENN_AGENT_SECRET=$STACK_AGENT_SECRET
unset E2B_API_URL E2B_SANDBOX_URL E2B_DEBUG SSL_CERT_DIR

status=0
lines=()
for suite in "${suites[@]}"; do
    echo "=== $suite"
    log="$logs/$suite.log"
    case $suite in
        e2b-py)
            (cd "$here/py" && E2B_SUITE=$suite "$root/target/e2b-venv-latest/bin/python" -m pytest -p no:cacheprovider \
                -o junit_family=xunit2 -rfEX test_stack.py test_sdk.py test_readme.py test_code_interpreter.py test_template.py) 2>&1 | tee "$log"
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

stack_destroy_sandboxes "$key" || { status=1; echo "sandbox clean-up failed" >&2; }
stack_stop
stack_leftovers || status=1
printf '%s\n' "${lines[@]}"
exit "$status"
