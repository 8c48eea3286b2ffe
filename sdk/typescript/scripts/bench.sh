#!/usr/bin/env bash
# Issue #13's figures for the TypeScript SDK against $WRENN_BENCH_SANDBOX (a
# running sandbox of tests/sdk/run.sh sdk-bench): JSON lines on stdout.
set -euo pipefail

SDK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${WRENN_BENCH_SANDBOX:?}" "${WRENN_BASE_URL:?}" "${WRENN_API_KEY:?}"
cd "$SDK"
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error >&2
npx tsup --silent >&2
exec node scripts/bench.mjs
