#!/usr/bin/env bash
# Host addresses and agent identity (issue 11, found-item 3): see
# check_host_ssrf.py. A real wrenn-cp on SQLite, no VM; prints
# `host_ssrf: N passed, M failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p target/test-logs
cargo build -q -p wrenn-cp || { echo "host_ssrf: 0 passed, 1 failed (cargo build)"; exit 1; }
exec python3 tests/security/check_host_ssrf.py
