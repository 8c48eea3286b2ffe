#!/usr/bin/env bash
# The E2B-compatible REST API against the real e2b SDK (test_rest_api.py):
# a real `wrenn-agent` (QEMU) and `wrenn-cp` from target/debug, the SDK
# pointed at them with E2B_API_URL and an E2B-form key, once with e2b 2.63
# (e2b-rest) and once with e2b 2.45 (e2b-rest24: POST /sandboxes and
# /sandboxes/{id}/connect). Root; builds first, then takes
# flock /tmp/wrenn-vm.lock (one agent per machine).
# Prints `e2b-rest: N passed, M failed` (and `e2b-rest24: ...`).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
sdks=(2.63.0 2.45.0)
. "$root/tests/lib/venv.sh"

fail() {
    echo "e2b-rest: $1" >&2
    echo "e2b-rest: 0 passed, 1 failed"
    exit 1
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail "must run as root (the agent makes namespaces and TAP devices)"
    cargo build -q -p wrenn-agent -p wrenn-cp || fail "cargo build"
    for v in "${sdks[@]}"; do
        venv_ready "$root/target/e2b-rest-venv-$v" "e2b==$v" "pytest==8.4.2" >/dev/null || fail "pip install e2b==$v"
    done
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

rc=0
for v in "${sdks[@]}"; do
    name=e2b-rest; [ "$v" = 2.63.0 ] || name=e2b-rest24
    out=$(mktemp)
    "$root/target/e2b-rest-venv-$v/bin/python" -m pytest -q -p no:cacheprovider \
        "$root/tests/e2b/test_rest_api.py" 2>&1 | tee "$out"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    # pytest's closing line, e.g. "2 failed, 6 passed, 1 error in 80s".
    summary=$(grep -E '[0-9]+ (passed|failed|errors?)' "$out" | tail -1)
    passed=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    failed=$(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
    rm -f "$out"
    echo "$name: ${passed:-0} passed, ${failed:-0} failed"
done
exit $rc
