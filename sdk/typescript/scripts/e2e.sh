#!/usr/bin/env bash
# The live scenario against a running Wrenn (tests/sdk/run.sh provides the
# stack: WRENN_BASE_URL, WRENN_API_KEY, WRENN_ADMIN_TOKEN, WRENN_DOMAIN and
# its CA in NODE_EXTRA_CA_CERTS). Installs the SDK as a user would
# (`npm install ./sdk/typescript` into a fresh project), then runs the README
# quickstart exactly as written, examples/agent-loop.mjs and
# e2e/scenario.mjs with that installed copy.
# Last line: `sdk-typescript: N passed, M failed`.
set -euo pipefail

SDK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$SDK/../scripts/e2e-lib.sh"
e2e_begin sdk-typescript

# The package's dist/ is what npm packs: build it from the lock file first.
[[ -d "$SDK/node_modules" ]] || (cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$SDK" && npx tsup --silent)

rc=0
(cd "$WORK" && npm init -y >/dev/null &&
  npm install --install-links --no-audit --no-fund --loglevel=error "$SDK") || rc=$?
tally "npm install ./sdk/typescript into a fresh project" "$rc"
e2e_installed "$rc"
# The installed copy, not the checkout, must be what runs.
(cd "$WORK" && node -e 'const p=require.resolve("wrenn"); if (!p.includes("/node_modules/wrenn/")) throw new Error(p)')

# README quickstart, exactly as written (the js block between the markers).
node - "$SDK/README.md" >"$WORK/quickstart.mjs" <<'JS'
const text = require("node:fs").readFileSync(process.argv[2], "utf8");
const section = text.split("<!-- quickstart -->")[1].split("<!-- /quickstart -->")[0];
process.stdout.write(/```js\n([\s\S]*?)```/.exec(section)[1]);
JS
rc=0
out=$(cd "$WORK" && node quickstart.mjs 2>&1) || rc=$?
echo "$out"
if [[ "$rc" -eq 0 ]] && ! grep -q "^hello from wrenn$" <<<"$out"; then rc=1; fi
if [[ "$rc" -eq 0 ]] && ! grep -q "^written by the SDK$" <<<"$out"; then rc=1; fi
tally "README quickstart" "$rc"

cp "$SDK/examples/agent-loop.mjs" "$WORK/agent-loop.mjs"
rc=0
out=$(cd "$WORK" && node agent-loop.mjs 2>&1) || rc=$?
echo "$out"
if [[ "$rc" -eq 0 ]] && ! grep -q '^result.json (.*"sq": 16' <<<"$out"; then rc=1; fi
tally "examples/agent-loop.mjs" "$rc"

cp "$SDK/e2e/scenario.mjs" "$WORK/scenario.mjs"
rc=0
(cd "$WORK" && node --expose-gc scenario.mjs) | tee "$WORK/scenario.log" || rc=$?
e2e_scenario "$WORK/scenario.log" "$rc"
e2e_finish
