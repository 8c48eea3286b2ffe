#!/usr/bin/env bash
# Lint, generated-code check, unit tests and API reference of the Go SDK.
# No live stack. Last line: `sdk-go-unit: N passed, M failed`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="$repo/target/sdk-go-tools"
cd "$here"

echo "== tools (pinned in tools/go.mod)"
(cd tools && go mod verify >/dev/null && go build -o "$bin/" \
  google.golang.org/protobuf/cmd/protoc-gen-go \
  connectrpc.com/connect/cmd/protoc-gen-connect-go \
  honnef.co/go/tools/cmd/staticcheck)

echo "== modules"
go mod verify
go mod tidy -diff
(cd tools && go mod tidy -diff)

echo "== generated envd code is up to date"
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
bash scripts/gen.sh "$gen"
diff -r "$gen" internal/envd

echo "== gofmt, vet, staticcheck"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt: not formatted: $unformatted" >&2
  exit 1
fi
go vet ./...
go vet -tags e2e ./...
"$bin/staticcheck" ./...
"$bin/staticcheck" -tags e2e ./...

echo "== build"
go build ./...

echo "== API reference"
docs="$repo/target/sdk-docs/go"
mkdir -p "$docs"
go doc -all . >"$docs/wrenn.txt"
echo "wrote $docs/wrenn.txt ($(wc -l <"$docs/wrenn.txt") lines)"

echo "== unit tests"
json="$(mktemp)"
set +e
go test -count=1 -json ./... >"$json"
rc=$?
set -e
read -r passed failed < <(python3 - "$json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if not ev.get("Test"):
        if ev.get("Action") == "fail":
            f += 1  # a package that failed to build or run
        continue
    if ev.get("Action") == "pass":
        p += 1
    elif ev.get("Action") == "fail":
        f += 1
        print("FAIL", ev["Package"], ev["Test"], file=sys.stderr)
print(p, f)
PY
)
if [[ $rc -ne 0 ]]; then
  grep -h '"Output"' "$json" | python3 -c 'import json,sys; [sys.stdout.write(json.loads(l)["Output"]) for l in sys.stdin]' | grep -v '^=== RUN\|^--- PASS\|^PASS\|^ok ' | tail -40 >&2 || true
  [[ $failed -eq 0 ]] && failed=1
fi
rm -f "$json"
echo "sdk-go-unit: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
