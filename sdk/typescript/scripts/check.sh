#!/usr/bin/env bash
# The TypeScript SDK's offline checks: install from package-lock.json, check
# that the generated code (envd protos, REST models) matches the repository's
# contracts, lint, type check, unit tests, build, API reference.
# Last line: `sdk-typescript-unit: N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

step() { printf '\n== %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

step "generated code matches crates/wrenn-proto and crates/wrenn-cp/openapi.json"
npm run --silent gen
if ! git -C "$repo" diff --exit-code -- sdk/typescript/src/gen \
  || [ -n "$(git -C "$repo" status --porcelain -- sdk/typescript/src/gen)" ]; then
  echo "check.sh: src/gen drifted from the protos or openapi.json: run 'npm run gen' in sdk/typescript and commit" >&2
  exit 1
fi

step "eslint"
npx eslint .

step "tsc --strict --noEmit"
npx tsc --strict --noEmit -p .

step "unit tests"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report"
tests_rc=$?
set -e

step "build (ESM + CJS + .d.ts)"
npx tsup
node -e 'require("./dist/index.cjs"); require("./dist/browser.cjs")'
node --input-type=module -e 'await import("./dist/index.js"); await import("./dist/browser.js")'

step "API reference -> target/sdk-docs/typescript"
npx typedoc --logLevel Error
test -f "$repo/target/sdk-docs/typescript/index.html"

count() { node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(r[process.argv[2]] ?? 0)' "$report" "$1"; }
passed="$(count numPassedTests)"
failed="$(count numFailedTests)"
if [ "$tests_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "sdk-typescript-unit: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
