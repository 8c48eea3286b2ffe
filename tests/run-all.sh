#!/usr/bin/env bash
# Runs every Wrenn test suite on this machine, after setting the machine up
# (deploy/setup-host.sh: packages, kernel, images; cached after the first run).
# Prints one summary line per suite and exits non-zero if any suite failed.
#   tests/run-all.sh              all suites
#   tests/run-all.sh rust vm-boot only the named suites
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=never
export PATH="$HOME/.cargo/bin:$PATH"
# The PostgreSQL cluster deploy/setup-host.sh starts (test-only credentials).
export WRENN_TEST_POSTGRES_URL=${WRENN_TEST_POSTGRES_URL:-postgres://postgres:wrenn@127.0.0.1:5432/postgres}
# A fresh clone never reuses incremental state; writing it only costs disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
logs="$root/target/test-logs"
mkdir -p "$logs"

summaries=()
failures=0

# counts LOG: "N passed, M failed" from cargo, pytest or our own closing lines.
counts() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
p = f = 0
for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", text):
    p += int(m[1]); f += int(m[2])
for m in re.finditer(r"^[\w:-]*:? ?(\d+) passed, (\d+) failed", text, re.M):
    p += int(m[1]); f += int(m[2])
print(f"{p} passed, {f} failed")
PY
}

suite() { # NAME COMMAND...
    local name=$1; shift
    local log="$logs/$name.log" start rc
    start=$(date +%s)
    echo "=== suite $name: $*"
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    local took=$(( $(date +%s) - start ))
    local result=PASS
    [ "$rc" -eq 0 ] || { result=FAIL; failures=$((failures + 1)); }
    summaries+=("$(printf 'suite %-10s %s  %-28s %4ss' "$name" "$result" "($(counts "$log"))" "$took")")
    echo "${summaries[-1]}"
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; }
selected=("$@")
run() { local name=$1; if want "${selected[@]}"; then suite "$@"; fi; }

run setup    bash deploy/setup-host.sh
run lint     bash tests/lint/run.sh
# No import cycles between the modules of any crate (STYLE: arrows point down).
run cycles   python3 tests/lint/module_cycles.py
run rust     cargo test -q --workspace
run images   bash tests/images/test_builders.sh
run vm-boot  cargo test -q -p wrenn-agent --test boot --test pause_resume -- --ignored
# Root-only suites: real namespaces, nftables and TAP devices; serial because
# they share the host's nftables table.
run network  cargo test -q -p wrenn-agent --test network_ns -- --ignored --test-threads=1
run agent    cargo test -q -p wrenn-agent --test sandbox_e2e --test sandbox_egress --test rpc_e2e --test template_snapshot --test template_start --test firecracker_manager --test sandbox_fork --test sandbox_soak --test warm_pool --test guest_reach -- --ignored --test-threads=1
run cp-e2e   bash -c 'cargo build -q -p wrenn-agent -p wrenn-cli && cargo test -q -p wrenn-cp --test e2e_binaries -- --ignored --test-threads=1'
run multihost bash tests/multihost/run.sh
run replicas bash tests/cp/replicas.sh
run openapi  bash tests/cp/openapi.sh
run schemathesis bash tests/cp/schemathesis.sh
# The sandbox traffic proxy end to end (routing, streams, WebSocket, 2 GiB).
run proxy    bash tests/proxy/run.sh
# The real e2b SDKs (PyPI latest and 2.4x, npm) over TLS against real VMs.
run e2b      bash tests/e2b/run.sh
run e2b-rest bash tests/e2b/rest.sh
# Our Python, TypeScript and Go SDKs: lint and unit tests, then live with real VMs.
run sdk      bash tests/sdk/run.sh
# Pools and metering with real VMs: refusals, pause/resume, restarts, the ledger.
run pools    bash tests/pools/run.sh
# Template builds from a Dockerfile with real VMs, through the wrenn CLI.
run builds   bash tests/builds/run.sh
# The web dashboard in Debian's Chromium against real VMs, with axe checks.
run dashboard bash tests/dashboard/run.sh
# The code-interpreter-v1 template: its server's unit tests, then the
# e2b-code-interpreter SDK against real VMs.
run code-interpreter bash tests/code-interpreter/run.sh unit vm
# Holes found by probing a fresh install, each shown refused (tests/security/).
run security bash tests/security/run.sh
# Kills the control plane or the agent mid-operation; nothing may leak.
run chaos    bash tests/chaos/run.sh
if [ -x tests/envd/run.sh ]; then run envd env WRENN_VM_TESTS=1 tests/envd/run.sh; fi
if [ -x fuzz/run.sh ]; then run fuzz fuzz/run.sh; fi

echo
echo "=== summary"
printf '%s\n' "${summaries[@]}"
total=$(printf '%s\n' "${summaries[@]}" | python3 -c '
import re, sys
p = f = 0
for line in sys.stdin:
    m = re.search(r"\((\d+) passed, (\d+) failed\)", line)
    if m: p += int(m[1]); f += int(m[2])
print(f"{p} passed, {f} failed")')
echo "$total"
[ "$failures" -eq 0 ]
