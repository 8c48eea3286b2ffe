#!/usr/bin/env bash
# The sandbox traffic proxy end to end (issue 12, "Proxy tests"): a real
# `wrenn-agent serve` (QEMU) and a real `wrenn-cp` (SQLite, WRENN_DOMAIN
# wrenn.localhost) from target/debug, real VMs of the `base` template, and
# clients on loopback (tests/proxy/proxy.py says what each check asserts).
# Root; builds first, then runs under `flock /tmp/wrenn-vm.lock`.
# Ends with `proxy: N passed, M failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
logs="$root/target/test-logs"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
mkdir -p "$logs"

fail() { # REASON
    echo "proxy: $1" >&2
    echo "proxy: 0 passed, 1 failed"
    exit 1
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || fail "must run as root (the agent makes namespaces and TAP devices)"
    [ -e /var/lib/wrenn/images/base/current ] || fail "no base image in /var/lib/wrenn (run deploy/setup-host.sh)"
    cargo build -q -p wrenn-agent -p wrenn-cp || fail "cargo build"
    # -o: the lock stays with flock, not with VMs that might outlive the suite.
    WRENN_VM_LOCKED=1 exec flock -o /tmp/wrenn-vm.lock "$0" "$@"
fi

work=$(mktemp -d /tmp/wrenn-proxy.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$logs/proxy-agent.log"
: >"$logs/proxy-cp.log"
python3 "$root/tests/proxy/proxy.py" "$root" "$bin" "$work" "$logs"
