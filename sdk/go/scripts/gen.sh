#!/usr/bin/env bash
# Regenerates the envd Connect client code under internal/envd from the
# repository's protos, with the generators pinned in tools/go.mod.
# Usage: gen.sh [OUT_DIR]  (default: internal/envd; check.sh passes a temp
# dir and compares the bytes).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="$repo/target/sdk-go-tools"
out="${1:-$here/internal/envd}"
if [[ ! -x "$bin/protoc-gen-go" || ! -x "$bin/protoc-gen-connect-go" ]]; then
  (cd "$here/tools" && go build -o "$bin/" \
    google.golang.org/protobuf/cmd/protoc-gen-go \
    connectrpc.com/connect/cmd/protoc-gen-connect-go)
fi
mod=github.com/wrenn-dev/wrenn/sdk/go/internal/envd
mkdir -p "$out"
PATH="$bin:$PATH" protoc \
  -I "$repo/crates/wrenn-proto/proto" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go_opt=Mprocess/process.proto="$mod/process;process" \
  --go_opt=Mfilesystem/filesystem.proto="$mod/filesystem;filesystem" \
  --connect-go_out="$out" --connect-go_opt=paths=source_relative \
  --connect-go_opt=Mprocess/process.proto="$mod/process;process" \
  --connect-go_opt=Mfilesystem/filesystem.proto="$mod/filesystem;filesystem" \
  process/process.proto filesystem/filesystem.proto
