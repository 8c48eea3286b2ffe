# Shared helpers for the image builders: progress lines, failures that say what
# to do, content-addressed cache paths and atomic publication.
# Sourced, not executed.

WRENN_DATA_DIR="${WRENN_DATA_DIR:-/var/lib/wrenn}"
_wrenn_t0=$(date +%s)

# step NAME: prints "[builder +12s] NAME" so long builds are never silent.
step() {
    printf '[%s +%ss] %s\n' "${WRENN_BUILDER:-build}" "$(( $(date +%s) - _wrenn_t0 ))" "$*" >&2
}

# die MESSAGE [HINT]: one line saying what failed, one saying how to fix it.
die() {
    printf '[%s] error: %s\n' "${WRENN_BUILDER:-build}" "$1" >&2
    [ -n "${2:-}" ] && printf '[%s] fix: %s\n' "${WRENN_BUILDER:-build}" "$2" >&2
    exit 1
}

# require_cmd CMD PACKAGE: fail early with the Debian package to install.
require_cmd() {
    command -v "$1" >/dev/null 2>&1 ||
        die "command '$1' not found" "apt-get install -y $2   (or run deploy/setup-host.sh)"
}

# require_space DIR MIB: refuse to start a build that cannot finish.
require_space() {
    mkdir -p "$1"
    local avail
    avail=$(df -Pm "$1" | awk 'NR==2 {print $4}')
    [ "${avail:-0}" -ge "$2" ] ||
        die "not enough free space in $1: ${avail} MiB free, ${2} MiB needed" \
            "free some space (e.g. remove $WRENN_DATA_DIR/build) or set WRENN_DATA_DIR to a larger disk"
}

# hash_inputs FILE...: sha256 over file names and contents, first 16 hex chars.
hash_inputs() {
    local f
    for f in "$@"; do
        printf '%s\n' "$(basename "$f")"
        cat "$f"
    done | sha256sum | cut -c1-16
}

# write_manifest DIR FILE...: record sha256 of each artefact so a later run can
# tell a good cache entry from a corrupt or truncated one, plus each file's
# size and modification time (MANIFEST.stat) for the fast check below.
write_manifest() {
    local dir=$1; shift
    (cd "$dir" && sha256sum "$@" > MANIFEST.sha256 && stat -c '%n %s %y' "$@" > MANIFEST.stat)
}

# verify_manifest DIR: true when every artefact matches its record. Fast path:
# unchanged size and nanosecond mtime since the last full check (hashing a
# 2 GiB image takes seconds); otherwise, or with WRENN_VERIFY_CACHE=1, every
# hash is checked again and the fast-path record refreshed.
verify_manifest() {
    local dir=$1 files
    [ -f "$dir/MANIFEST.sha256" ] || return 1
    files=$(awk '{print $2}' "$dir/MANIFEST.sha256")
    if [ "${WRENN_VERIFY_CACHE:-0}" != 1 ] && [ -f "$dir/MANIFEST.stat" ] &&
        [ "$(cd "$dir" && stat -c '%n %s %y' $files 2>/dev/null)" = "$(cat "$dir/MANIFEST.stat")" ]; then
        return 0
    fi
    (cd "$dir" && sha256sum --quiet -c MANIFEST.sha256 >/dev/null 2>&1) || return 1
    (cd "$dir" && stat -c '%n %s %y' $files > MANIFEST.stat) 2>/dev/null || true
}

# publish TMPDIR FINALDIR: atomic rename, replacing a corrupt previous entry.
# Published artefacts are root's only (QEMU reads them as root before it
# drops to the VM user; nothing unprivileged needs them).
publish() {
    chmod -R go-rwx "$1"
    rm -rf "$2.old"
    [ -e "$2" ] && mv "$2" "$2.old"
    mv "$1" "$2"
    rm -rf "$2.old"
}

# ensure_system_user NAME COMMENT: a locked system account without a home or
# a login shell, created once.
ensure_system_user() {
    getent passwd "$1" >/dev/null 2>&1 && return 0
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment "$2" "$1" || die "cannot create the system user $1" "useradd --system $1"
    step "created system user $1"
}

# run_logged LOG CMD...: runs CMD with its output in LOG, printing the latest
# line every 15 s so long steps show progress; on failure prints the log tail.
run_logged() {
    local log=$1; shift
    "$@" > "$log" 2>&1 &
    local pid=$! ticks=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        ticks=$((ticks + 1))
        if [ $((ticks % 15)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
            step "  $(tail -n1 "$log" | cut -c1-100)"
        fi
    done
    if ! wait "$pid"; then
        tail -n 25 "$log" >&2
        return 1
    fi
}
