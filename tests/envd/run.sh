#!/usr/bin/env bash
# envd test entry point: pytest suite through the real e2b SDK against envd
# on this host (as root, --no-init), then, with WRENN_VM_TESTS=1, the `vm`
# smoke subset against envd inside a QEMU VM of the base image.
# Prints one summary line per suite and exits non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
port=49983
logs="$root/target/test-logs"
mkdir -p "$logs"
status=0

venv="$root/.venv"
# A venv left half-made (e.g. by a full disk) is made again.
[ -x "$venv/bin/python" ] && [ -x "$venv/bin/pip" ] || { rm -rf "$venv" && python3 -m venv "$venv"; }
"$venv/bin/pip" install -q -r tests/envd/requirements.txt || { echo "envd-host: 0 passed, 1 failed (pip install)"; exit 1; }

if ! id user >/dev/null 2>&1; then
    useradd -m -d /home/user -s /bin/bash user
fi

wait_health() { # SECONDS
    for _ in $(seq 1 $(( $1 * 10 ))); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# summary NAME JUNIT_XML RC
summary() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys, xml.etree.ElementTree as ET
name, path, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    s = ET.parse(path).getroot()
    s = s if s.tag == "testsuite" else s.find("testsuite")
    total, fails = int(s.get("tests")), int(s.get("failures")) + int(s.get("errors"))
    skipped = int(s.get("skipped", 0))
    passed = total - fails - skipped
except Exception:
    passed, fails = 0, max(rc, 1)
if rc != 0 and fails == 0:
    fails = 1
print(f"{name}: {passed} passed, {fails} failed")
PY
}

echo "=== building envd"
cargo build -q -p envd || { echo "envd-host: 0 passed, 1 failed (build)"; exit 1; }

if curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then
    echo "port $port is already serving; stop that envd first" >&2
    echo "envd-host: 0 passed, 1 failed (port busy)"
    exit 1
fi
target/debug/envd --no-init --listen "127.0.0.1:$port" >"$logs/envd-host.log" 2>&1 &
envd_pid=$!
trap 'kill $envd_pid 2>/dev/null; wait $envd_pid 2>/dev/null' EXIT
if ! wait_health 20; then
    cat "$logs/envd-host.log"
    echo "envd-host: 0 passed, 1 failed (envd did not start)"
    exit 1
fi
(cd tests/envd && E2B_DEBUG=true "$venv/bin/python" -m pytest -q --junitxml="$logs/envd-host.xml" "$@")
rc=$?
kill $envd_pid 2>/dev/null; wait $envd_pid 2>/dev/null
trap - EXIT
host_line=$(summary envd-host "$logs/envd-host.xml" $rc)
[ $rc -eq 0 ] || status=1

vm_line=""
if [ "${WRENN_VM_TESTS:-0}" = "1" ]; then
    echo "=== envd in a VM"
    vm_rc=1
    if envd_bin=$(bash images/envd.sh) \
        && bash images/rootfs/build.sh base "$envd_bin" \
        && cargo build -q -p wrenn-agent; then
        target/debug/wrenn-agent boot --template base --host-port "$port" --hold >"$logs/envd-vm-agent.log" 2>&1 &
        agent_pid=$!
        trap 'kill -TERM $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null' EXIT
        for _ in $(seq 1 600); do
            grep -q "^guest ready" "$logs/envd-vm-agent.log" && break
            kill -0 $agent_pid 2>/dev/null || break
            sleep 1
        done
        if grep -q "^guest ready" "$logs/envd-vm-agent.log"; then
            (cd tests/envd && ENVD_IN_VM=1 E2B_DEBUG=true "$venv/bin/python" -m pytest -q -m vm --junitxml="$logs/envd-vm.xml")
            vm_rc=$?
        else
            cat "$logs/envd-vm-agent.log"
        fi
        kill -TERM $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null
        trap - EXIT
    fi
    vm_line=$(summary envd-vm "$logs/envd-vm.xml" $vm_rc)
    [ $vm_rc -eq 0 ] || status=1
fi

echo "$host_line"
[ -z "$vm_line" ] || echo "$vm_line"
exit $status
