# Cargo-installed tools the test suites need, pinned, and where they live:
# $WRENN_DATA_DIR/tools/<name>-<version>/bin, so a version change installs
# beside the old one and a warm machine never rebuilds. Sourced, not executed.
# Versions must build with the toolchain of rust-toolchain.toml (stable).

WRENN_DATA_DIR="${WRENN_DATA_DIR:-/var/lib/wrenn}"

# name version [extra cargo-install arguments], one a line. No cargo-audit:
# cargo-deny's `advisories` check reads the same RustSec database, and
# building cargo-audit too cost a cold machine about 20 minutes.
WRENN_CARGO_TOOLS="
cargo-deny 0.20.2
"

# tool_dir NAME: the install root of NAME's pinned version (empty if unknown).
tool_dir() {
    local name version _
    while read -r name version _; do
        [ "$name" = "$1" ] && { printf '%s/tools/%s-%s\n' "$WRENN_DATA_DIR" "$name" "$version"; return 0; }
    done <<<"$WRENN_CARGO_TOOLS"
    return 1
}
