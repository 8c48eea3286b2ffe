#!/usr/bin/env bash
# Fuzz CI hook. With a nightly toolchain: installs cargo-fuzz if needed and
# runs each target for FUZZ_SECONDS (default 20). Without nightly: builds the
# targets as ordinary binaries (proving the harness compiles) and replays the
# seed corpus through them. Prints which of the two happened and a summary.
set -uo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${FUZZ_SECONDS:-20}
# Fuzz builds (sanitizers, the control plane and agent crates) are slow on a
# small machine: they share one target dir under the data directory, so a
# fresh clone reuses the compiled dependencies and cargo rebuilds only what
# changed. Falls back to fuzz/target where that is not writable.
# FUZZ_TARGET_DIR overrides the place (.ci/run keeps it in its locked
# cache entry, where it restores source mtimes).
cache=${FUZZ_TARGET_DIR:-${WRENN_DATA_DIR:-/var/lib/wrenn}/cache/fuzz-target}
if [ -z "${CARGO_TARGET_DIR:-}" ] && mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
    export CARGO_TARGET_DIR=$cache
fi
bin_dir=${CARGO_TARGET_DIR:-target}
targets=(connect_envelope multipart cp_api_body agent_rpc)
passed=0
failed=0

if cargo +nightly --version >/dev/null 2>&1; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "installing cargo-fuzz"
        cargo install -q cargo-fuzz || { echo "fuzz: 0 passed, 1 failed (cargo-fuzz install)"; exit 1; }
    fi
    echo "mode: cargo fuzz on nightly, ${seconds}s per target"
    for t in "${targets[@]}"; do
        # New inputs go to target/ (ignored); corpus/ holds the checked-in seeds.
        mkdir -p "target/corpus/$t"
        if cargo +nightly fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
            -max_total_time="$seconds" -max_len=65536 -artifact_prefix="target/artifacts-$t-"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
else
    echo "mode: no nightly toolchain; building targets as plain binaries and replaying the corpus"
    if cargo build -q --release --bins; then
        for t in "${targets[@]}"; do
            if "$bin_dir/release/$t" -runs=0 "corpus/$t"; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
            fi
        done
    else
        failed=${#targets[@]}
    fi
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
