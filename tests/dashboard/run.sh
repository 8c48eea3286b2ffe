#!/usr/bin/env bash
# Issue #17's browser test: Debian's Chromium (playwright-core drives it; no
# downloaded browser) against a real Wrenn (tests/lib/stack.sh: agent, real
# VMs, wrenn-cp serving the dashboard built by dashboard/scripts/build.sh).
# Root. Prints one line per check and `dashboard: N passed, M failed`;
# screenshots go to target/test-artifacts/dashboard/.
#   tests/dashboard/run.sh           the scenario (tests/dashboard/scenario.mjs)
#   tests/dashboard/run.sh --bench   the figures instead (bench.mjs, TSV rows)
# WRENN_BIN_DIR picks prebuilt wrenn-cp/wrenn-agent (bench/suites/dashboard
# uses the release build); otherwise the debug ones are built here.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
here=tests/dashboard
script=scenario.mjs
[ "${1:-}" = --bench ] && script=bench.mjs
artifacts="$root/target/test-artifacts/dashboard"
dash_out="${DASHBOARD_DIR:-$root/target/dashboard}"

fail() { # REASON: the run could not start; still one summary line
    echo "dashboard: $1" >&2
    [ "$script" = bench.mjs ] || echo "dashboard: 0 passed, 1 failed"
    exit 1
}

if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y --no-install-recommends chromium ||
        { apt-get update && apt-get install -y --no-install-recommends chromium; }; } >/dev/null ||
        fail "apt-get install chromium failed"
fi
command -v node >/dev/null || fail "node is missing (deploy/setup-host.sh installs it)"
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in $here failed"

[ -x dashboard/scripts/build.sh ] || [ -f dashboard/scripts/build.sh ] || fail "dashboard/scripts/build.sh is missing"
mkdir -p target/test-logs
bash dashboard/scripts/build.sh "$dash_out" >target/test-logs/dashboard-build.log 2>&1 ||
    { tail -30 target/test-logs/dashboard-build.log >&2; fail "the dashboard build failed"; }
[ -f "$dash_out/index.html" ] || fail "$dash_out/index.html is missing after the build"

if [ -z "${WRENN_BIN_DIR:-}" ]; then
    nice -n 10 cargo build -q -p wrenn-cp -p wrenn-agent || fail "cargo build failed"
fi

rm -rf "$artifacts"
mkdir -p "$artifacts"
. tests/lib/stack.sh
exec 9>/tmp/wrenn-vm.lock
flock 9
trap stack_stop EXIT
stack_start dashboard --no-tls CP_DASHBOARD_DIR="$dash_out" || fail "the stack did not start"

WRENN_URL=$STACK_URL DASHBOARD_ARTIFACTS=$artifacts DASHBOARD_DIR=$dash_out \
    node "$here/$script"
rc=$?
stack_stop
stack_leftovers || rc=1
exit "$rc"
