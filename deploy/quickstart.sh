#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to code running in a microVM:
# sets the host up (packages, guest kernel, `base` image; cached after the
# first run), builds Wrenn, boots a `base` sandbox VM, runs Python in it and
# shuts it down. Safe to re-run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

bash deploy/setup-host.sh
echo "[quickstart] building wrenn-agent"
cargo build -q --release -p wrenn-agent
echo "[quickstart] booting a 'base' microVM and running Python in it"
target/release/wrenn-agent boot --template base \
    --exec "python3 -c 'import platform; print(\"hello from a microVM:\", platform.node(), platform.release())'"
cat <<'NEXT'

Next steps
  target/release/wrenn-agent doctor        what this host offers (accelerator, kernel, images)
  target/release/wrenn-agent boot --hold   keep a VM up; envd answers on the printed URL
  bench/run                                benchmark table
  tests/run-all.sh                         every test suite
NEXT
