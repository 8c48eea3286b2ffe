#!/usr/bin/env bash
# The code-interpreter-v1 template and its server (issue #16 §7).
#   unit   the server on the host: message mapping and a real ipykernel
#          behind the HTTP routes (pytest, no VM)
#   vm     e2b-code-interpreter (PyPI, pinned: requirements.txt) against a
#          real Wrenn (tests/lib/stack.sh: agent, control plane, TLS, the
#          traffic proxy) and a real code-interpreter-v1 VM
#   bench  figures, not assertions: cached template build time, image size,
#          Sandbox.create -> first run_code("1+1") (median of 10): TSV rows
#   tests/code-interpreter/run.sh [unit] [vm] [bench]    (unit vm by default)
# Prints `code-interpreter: N passed, M failed`; exits non-zero on a failure.
# Builds the template first if it is not cached (images/rootfs/build.sh).
# The vm part takes flock /tmp/wrenn-vm.lock itself. Root.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
here=tests/code-interpreter
logs="$root/target/test-logs"
mkdir -p "$logs"
[ $# -gt 0 ] && parts=("$@") || parts=(unit vm)
for p in "${parts[@]}"; do
    case $p in unit | vm | bench) ;; *) echo "unknown part '$p' (unit, vm, bench)" >&2; exit 2 ;; esac
done
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

fail() { echo "code-interpreter: $1" >&2; echo "code-interpreter: 0 passed, 1 failed"; exit 1; }

. "$root/tests/lib/venv.sh"
venv=$(venv_ready "$root/target/ci-test-venv" -r "$here/requirements.txt") || fail "pip install -r $here/requirements.txt"
py="$venv/bin/python"

# pytest PART ARGS...: runs, then adds its junit counts to the tally.
passed=0 failed=0
pytest_part() {
    local part=$1; shift
    local xml="$logs/code-interpreter-$part.xml"
    rm -f "$xml"
    "$py" -m pytest -p no:cacheprovider -o junit_family=xunit2 --junitxml="$xml" -rfE "$@" 2>&1 | tee "$logs/code-interpreter-$part.log"
    local counts
    counts=$("$py" - "$xml" <<'PY' 2>/dev/null
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot()
s = s if s.tag == "testsuite" else s.find("testsuite")
t, f, e, k = (int(s.get(a, 0)) for a in ("tests", "failures", "errors", "skipped"))
print(t - f - e - k, f + e + k)
PY
    ) || counts="0 1"
    passed=$((passed + ${counts% *})) failed=$((failed + ${counts#* }))
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    want unit && pytest_part unit "$here/unit"
    if want vm || want bench; then
        [ "$(id -u)" -eq 0 ] || fail "the vm part must run as root (the agent makes namespaces and TAP devices)"
        envd=$(images/envd.sh) || fail "building envd (images/envd.sh)"
        t0=$(date +%s%N)
        images/rootfs/build.sh code-interpreter-v1 "$envd" >/dev/null || fail "building the code-interpreter-v1 image"
        export CI_BUILD_MS=$((($(date +%s%N) - t0) / 1000000))
        cargo build -q -p wrenn-agent -p wrenn-cp -p wrenn-cli || fail "cargo build"
        rest=()
        for p in "${parts[@]}"; do [ "$p" = unit ] || rest+=("$p"); done
        WRENN_VM_LOCKED=1 CI_PASSED=$passed CI_FAILED=$failed flock /tmp/wrenn-vm.lock "$0" "${rest[@]}"
        exit $?
    fi
    echo "code-interpreter: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
fi

passed=${CI_PASSED:-0} failed=${CI_FAILED:-0}
. tests/lib/stack.sh
stack_start code-interpreter || fail "the stack did not start"
stack_account code-interpreter@wrenn.test || fail "signup and API key"
export E2B_DOMAIN=$STACK_DOMAIN E2B_API_KEY=$ACCOUNT_KEY SSL_CERT_FILE=$STACK_CA
unset E2B_API_URL E2B_SANDBOX_URL E2B_DEBUG SSL_CERT_DIR

# The agent builds code-interpreter-v1's memory snapshot (server ready in
# it) after start-up; the tests and figures are about sandboxes restored
# from it, so they start once that build ended (a cached one ends at once).
agent_log="$logs/code-interpreter-agent.log"
snapshot_line() { sed 's/\x1b\[[0-9;]*m//g' "$agent_log" | grep -E 'template snapshot (ready|failed)' | grep 'template=code-interpreter-v1' | grep -v 'with_start_command' | tail -n1; }
t0=$(date +%s)
until [ -n "$(snapshot_line)" ]; do
    [ $(($(date +%s) - t0)) -lt 900 ] || fail "code-interpreter-v1's template snapshot did not end within 15 min (see $agent_log)"
    kill -0 "$stack_agent_pid" 2>/dev/null || fail "the agent stopped (see $agent_log)"
    sleep 1
done
snapshot_line | grep -q 'snapshot ready' || fail "code-interpreter-v1's template snapshot failed: $(snapshot_line)"
built=$(sed 's/\x1b\[[0-9;]*m//g' "$agent_log" | grep 'template snapshot ready' | grep 'template=code-interpreter-v1' | grep 'with_start_command=true' | sed -n 's/.*duration_ms=\([0-9]*\).*/\1/p' | tail -n1)

status=0
want vm && pytest_part vm "$here/e2e"
if want bench; then
    image="$(readlink -f /var/lib/wrenn/images/code-interpreter-v1/current)/rootfs.ext4"
    printf 'code-interpreter-build-cached\t%s\tms\timages/rootfs/build.sh, cache hit\n' "$CI_BUILD_MS"
    printf 'code-interpreter-image-used\t%s\tMiB\trootfs.ext4 blocks in use (sparse)\n' "$(( $(du -k "$image" | cut -f1) / 1024 ))"
    printf 'code-interpreter-image-apparent\t%s\tMiB\trootfs.ext4 size\n' "$(( $(stat -c %s "$image") / 1048576 ))"
    printf 'code-interpreter-snapshot-build\t%s\tms\tagent start-up: boot, server and kernel ready, snapshot (2c1024m; empty: cached from an earlier run)\n' "${built:-}"
    "$py" "$here/bench.py" || status=1
fi

stack_destroy_sandboxes "$ACCOUNT_KEY" || { status=1; echo "sandbox clean-up failed" >&2; }
stack_stop
stack_leftovers || status=1
[ "$status" -eq 0 ] || failed=$((failed + 1))
echo "code-interpreter: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
