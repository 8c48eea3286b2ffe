#!/usr/bin/env bash
# The Go SDK's live scenario against the stack tests/sdk/run.sh starts
# (WRENN_BASE_URL, WRENN_API_KEY, WRENN_ADMIN_TOKEN, WRENN_DOMAIN,
# WRENN_TEST_CA), then the README quickstart in a fresh module that uses
# the SDK through a `replace`. Last line: `sdk-go: N passed, M failed`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/../scripts/e2e-lib.sh"
e2e_begin sdk-go
cd "$here"

echo "== scenario (go test -tags e2e)"
json="$WORK/go-test.json"
qs="$WORK/quickstart"
mkdir "$qs"
set +e
go test -tags e2e -run '^TestE2E$' -count=1 -timeout 20m -json . >"$json"
set -e
read -r p f < <(python3 - "$json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("Action") == "output":
        out = ev.get("Output", "")
        if not out.startswith(("=== RUN", "=== PAUSE", "=== CONT")):
            sys.stderr.write(out)
    test = ev.get("Test", "")
    # Count the scenario's steps (subtests); the parent only if it fails
    # outside them.
    if "/" in test:
        if ev.get("Action") == "pass":
            p += 1
        elif ev.get("Action") == "fail":
            f += 1
    elif ev.get("Action") == "fail" and test in ("", "TestE2E"):
        f += 1
print(p, f)
PY
)
e2e_add "$p" "$f"

echo "== README quickstart in a fresh module"
awk '/<!-- quickstart -->/{on=1; next} on && /^```go/{grab=1; next} grab && /^```/{exit} grab' README.md >"$qs/main.go"
cat >"$qs/go.mod" <<MOD
module quickstart

go 1.26

require github.com/wrenn-dev/wrenn/sdk/go v0.0.0

replace github.com/wrenn-dev/wrenn/sdk/go => $here
MOD
if out="$(cd "$qs" && go mod tidy 2>&1 && go run . 2>&1)" && grep -q '^hello from Linux$' <<<"$out"; then
  echo "quickstart: ok: $out"
  e2e_add 1 0
else
  echo "quickstart: FAILED: $out" >&2
  e2e_add 0 1
fi

e2e_finish
