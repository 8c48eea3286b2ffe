# Cargo-installed tools the test suites need, pinned, and where they live:
# $WRENN_DATA_DIR/tools/<name>-<version>/bin, so a version change installs
# beside the old one and a warm machine never rebuilds. Sourced, not executed.
# Versions must build with the toolchain of rust-toolchain.toml (stable).

WRENN_DATA_DIR="${WRENN_DATA_DIR:-/var/lib/wrenn}"

# name version [extra cargo-install arguments], one a line. cargo-audit
# without its default binary-scanning feature: we audit Cargo.lock only, and
# the feature's syn/object build would add minutes to a cold CI run.
WRENN_CARGO_TOOLS="
cargo-deny 0.20.2
cargo-audit 0.22.2 --no-default-features
"

# tool_dir NAME: the install root of NAME's pinned version (empty if unknown).
tool_dir() {
    local name version _
    while read -r name version _; do
        [ "$name" = "$1" ] && { printf '%s/tools/%s-%s\n' "$WRENN_DATA_DIR" "$name" "$version"; return 0; }
    done <<<"$WRENN_CARGO_TOOLS"
    return 1
}
