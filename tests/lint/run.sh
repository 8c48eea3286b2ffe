#!/usr/bin/env bash
# The `lint` suite: formatting, clippy, the module-cycle checker's own tests,
# cargo-deny (licenses, bans, sources) and, with a local RustSec database,
# cargo-deny's advisories over Cargo.lock (read offline: fetching it needs
# GitHub and this machine reaches only package registries; cargo-audit
# would read the same database, so it is not run as well). Prints one line per check
# and closes with `lint: N passed, M failed` over the checks that ran; a
# skipped check is said so, and is neither.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. deploy/tools.sh
export PATH="$(tool_dir cargo-deny)/bin:$HOME/.cargo/bin:$PATH"

passed=0
failed=0
check() { # NAME COMMAND...
    local name=$1; shift
    if "$@"; then
        passed=$((passed + 1)); echo "lint check $name: ok"
    else
        failed=$((failed + 1)); echo "lint check $name: FAILED"
    fi
}

check fmt cargo fmt --all -- --check
check clippy cargo clippy -q --workspace --all-targets -- -D warnings
check cycles-self-test python3 tests/lint/module_cycles.py --self-test

if command -v cargo-deny >/dev/null 2>&1; then
    check deny cargo deny check --hide-inclusion-graph licenses bans sources
    # cargo-deny keeps its databases in $CARGO_HOME/advisory-dbs/<name>-<hash>.
    db=${CARGO_HOME:-$HOME/.cargo}/advisory-dbs
    if compgen -G "$db/*/crates" >/dev/null; then
        check advisories cargo deny --offline check --hide-inclusion-graph advisories
    else
        echo "lint check advisories: SKIPPED (no RustSec advisory database under $db," \
             "and this machine cannot fetch it from GitHub; with a clone of" \
             "github.com/rustsec/advisory-db there, this check runs offline)"
    fi
else
    failed=$((failed + 1))
    echo "lint check deny: FAILED (cargo-deny not installed: run deploy/setup-host.sh)"
fi

echo "lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
