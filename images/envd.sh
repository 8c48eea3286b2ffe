#!/usr/bin/env bash
# Builds the static envd binary that template images carry and prints its path.
# musl first (fully static); a static glibc build if the musl target is absent.
# The binary is kept in $WRENN_DATA_DIR/cache/envd/<hash>/ by a hash of what
# it is built from (envd's and wrenn-proto's sources, the workspace manifest
# and lock file, the toolchain, the target), so that a fresh clone on a
# set-up host does not spend minutes rebuilding an unchanged envd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WRENN_BUILDER=envd
. "$root/images/lib.sh"
require_cmd cargo "Rust (https://rustup.rs)"

musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu
if rustup target list --installed 2>/dev/null | grep -qx "$musl" || rustup target add "$musl" >/dev/null 2>&1; then
    target=$musl flags=""
else
    step "musl target unavailable; building a static glibc envd"
    target=$gnu flags="-C target-feature=+crt-static"
fi

# inputs: every file the build reads from the repository, sorted.
inputs() {
    (cd "$root" && {
        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            git ls-files crates/envd crates/wrenn-proto
        else
            find crates/envd crates/wrenn-proto -type f -not -path '*/target/*'
        fi
        printf '%s\n' Cargo.toml Cargo.lock rust-toolchain.toml images/envd.sh
    } | sort -u | while read -r f; do [ -f "$f" ] && printf '%s\n' "$root/$f"; done)
}
hash=$(
    {
        inputs | while read -r f; do printf '%s\n' "${f#"$root"/}"; cat "$f"; done
        (cd "$root" && rustc -vV)
        printf 'target=%s flags=%s\n' "$target" "$flags"
    } | sha256sum | cut -c1-16
)
cache="$WRENN_DATA_DIR/cache/envd/$hash"
if verify_manifest "$cache" 2>/dev/null; then
    echo "$cache/envd"
    exit 0
fi

step "cargo build --release --target $target -p envd"
(cd "$root" && RUSTFLAGS="$flags" cargo build -q --release --target "$target" -p envd)
built="$root/target/$target/release/envd"
if mkdir -p "$WRENN_DATA_DIR/cache/envd" 2>/dev/null && [ -w "$WRENN_DATA_DIR/cache/envd" ]; then
    tmp=$(mktemp -d "$WRENN_DATA_DIR/cache/envd/.partial.XXXXXX")
    install -m 0755 "$built" "$tmp/envd"
    write_manifest "$tmp" envd
    publish "$tmp" "$cache"
    echo "$cache/envd"
else
    echo "$built"
fi
