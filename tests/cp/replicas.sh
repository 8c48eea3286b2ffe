#!/usr/bin/env bash
# Two wrenn-cp replicas on one PostgreSQL database and one registered
# wrenn-agent booting real VMs (crates/wrenn-cp/tests/replicas.rs): the
# agent registers through replica 1, replica 2 runs its sandboxes. Builds
# first, then runs under the VM lock (one agent per machine). Needs root
# and the PostgreSQL of deploy/setup-host.sh (WRENN_TEST_POSTGRES_URL).
# Ends with cargo's "test result" line.
set -euo pipefail
cd "$(dirname "$0")/../.."
export WRENN_TEST_POSTGRES_URL=${WRENN_TEST_POSTGRES_URL:-postgres://postgres:wrenn@127.0.0.1:5432/postgres}
if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "replicas: must run as root (the agent makes namespaces)" >&2; exit 1; }
    cargo build -q -p wrenn-agent
    cargo test -q -p wrenn-cp --test replicas --no-run
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi
exec cargo test -q -p wrenn-cp --test replicas -- --ignored --test-threads=1
