#!/usr/bin/env bash
# Builds the static envd binary that template images carry and prints its path.
# musl first (fully static); a static glibc build if the musl target is absent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WRENN_BUILDER=envd
. "$root/images/lib.sh"
require_cmd cargo "Rust (https://rustup.rs)"

musl=x86_64-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx "$musl" || rustup target add "$musl" >/dev/null 2>&1; then
    step "cargo build --release --target $musl -p envd"
    (cd "$root" && cargo build -q --release --target "$musl" -p envd)
    echo "$root/target/$musl/release/envd"
else
    gnu=x86_64-unknown-linux-gnu
    step "musl target unavailable; building a static glibc envd"
    (cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --target "$gnu" -p envd)
    echo "$root/target/$gnu/release/envd"
fi
