#!/usr/bin/env bash
# The chaos suite (issue 11, "No orphaned work"): kills the control plane or
# the agent with SIGKILL at random moments of create, pause, resume,
# template snapshot and destroy, restarts it, and checks after each round
# that the control plane's records, the agent's records and the host (QEMU
# processes, namespaces, links, nftables, files) agree, that nothing leaks
# and that no sandbox the user was told is running is lost
# (tests/chaos/chaos.py). A real `wrenn-agent serve` (QEMU) and a real
# `wrenn-cp` on SQLite, from target/debug; root; builds first, then runs
# under `flock /tmp/wrenn-vm.lock` (one agent per machine).
#   CHAOS_SEED=N    replay a run (its seed is printed first)
#   CHAOS_ROUNDS=N  rounds (default 10: each operation kind twice, once
#                   killing the control plane, once the agent)
#   CHAOS_KINDS=a,b only these operation kinds (create, pause, resume,
#                   snapshot, destroy)
# Ends with `chaos: N passed, M failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
logs="$root/target/test-logs"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
mkdir -p "$logs"

fail() { # REASON
    echo "chaos: $1" >&2
    echo "chaos: 0 passed, 1 failed"
    exit 1
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail "must run as root (the agent makes namespaces and TAP devices)"
    cargo build -q -p wrenn-agent -p wrenn-cp || fail "cargo build"
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

work=$(mktemp -d /tmp/wrenn-chaos.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$logs/chaos-agent.log"
: >"$logs/chaos-cp.log"
python3 "$root/tests/chaos/chaos.py" "$bin" "$work" "$logs"
