#!/usr/bin/env bash
# Figures of the Go SDK against the running sandbox WRENN_BENCH_SANDBOX
# (WRENN_BASE_URL, WRENN_API_KEY from the harness). Prints JSON lines.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
: "${WRENN_BENCH_SANDBOX:?set WRENN_BENCH_SANDBOX to a running sandbox id}"
cd "$here"
go run ./internal/bench
