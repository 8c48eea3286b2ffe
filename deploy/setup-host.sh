#!/usr/bin/env bash
# Turns a Debian 12 machine into a Wrenn host. Idempotent: installs only the
# packages that are missing, creates the data directory, and builds the guest
# kernel, envd and the `base` template image unless they are cached already.
#   deploy/setup-host.sh            everything
#   deploy/setup-host.sh --packages only the Debian packages
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WRENN_BUILDER=setup
. "$root/images/lib.sh"

[ "$(id -u)" -eq 0 ] || die "setup-host.sh must run as root (it installs packages and creates $WRENN_DATA_DIR)" "sudo $0"
[ -f /etc/debian_version ] || die "only Debian 12 (bookworm) hosts are supported" "use a Debian 12 machine"

packages=(
    # VMs, disks and networking
    qemu-system-x86 qemu-utils iproute2 nftables e2fsprogs
    # template images
    debootstrap
    # guest kernel
    linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils kmod
    # Rust builds (.proto compilation and its well-known types, static envd)
    protobuf-compiler libprotobuf-dev musl-tools pkg-config
    # tests
    postgresql python3-venv curl ca-certificates
    # the builds suite's local OCI registry and image (tests/builds/oci-registry.sh)
    docker-registry skopeo umoci apache2-utils
    # the dashboard's browser test (tests/dashboard: Debian's Chromium)
    chromium
    # TLS and names on one machine (deploy/local-tls.sh)
    openssl libnss-myhostname
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${#missing[@]} Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || die "apt-get update failed" "check the network and /etc/apt/sources.list.d"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/wrenn-apt.log 2>&1 ||
        { tail -n 20 /tmp/wrenn-apt.log >&2; die "apt-get install failed (log: /tmp/wrenn-apt.log)" "fix the error above and re-run"; }
else
    step "Debian packages present"
fi

# PostgreSQL for the database tests (tests/run-all.sh points
# WRENN_TEST_POSTGRES_URL at it). Test-only: Debian's cluster listens on
# loopback only, and the fixed password `wrenn` is not a production secret.
pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
# The server outlives this script: it must inherit no descriptor beyond
# stdio (run from .ci/run, this shell holds the build cache's lock, which a
# server holding it would keep busy for every later CI run).
start_postgres() (
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done 2>/dev/null
    pg_ctlcluster "$pg_version" main start </dev/null
)
if [ -n "$pg_version" ] && pg_lsclusters -h "$pg_version" main >/dev/null 2>&1; then
    pg_ctlcluster "$pg_version" main status >/dev/null 2>&1 || start_postgres ||
        die "cannot start PostgreSQL $pg_version" "see /var/log/postgresql/postgresql-$pg_version-main.log"
    runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'wrenn'" >/dev/null ||
        die "cannot set the postgres password" "check that the cluster accepts local connections"
    step "PostgreSQL $pg_version running (test user postgres/wrenn on 127.0.0.1:5432)"
fi
[ "${1:-}" = "--packages" ] && exit 0

# Least privilege: the data directory is root's (0711 at the top so that the
# control plane's own cp/ inside stays reachable by its user; 0700 below);
# QEMU drops to wrenn-vm once its files are open (docs/security.md).
mkdir -p "$WRENN_DATA_DIR"/{kernels,images,sandboxes,snapshots,build,tools}
chmod 0711 "$WRENN_DATA_DIR"
chmod 0700 "$WRENN_DATA_DIR"/{kernels,images,sandboxes,snapshots,build,tools}
step "data directory $WRENN_DATA_DIR (root only)"
ensure_system_user wrenn-vm "Wrenn microVM processes (QEMU after it drops root)"

# Lint tools (tests/lint/run.sh), built once per pinned version and kept.
. "$root/deploy/tools.sh"
export PATH="$HOME/.cargo/bin:$PATH"
while read -r name version extra; do
    [ -n "$name" ] || continue
    dir=$(tool_dir "$name")
    if [ -x "$dir/bin/$name" ]; then
        step "$name $version present"
        continue
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found (needed to build $name)" "install Rust with rustup (https://rustup.rs), then re-run"
    step "building $name $version (once; cached in $dir)"
    # shellcheck disable=SC2086 # extra holds separate cargo-install arguments
    cargo install --locked --quiet "$name" --version "$version" $extra --root "$dir.partial" >/tmp/wrenn-tool-$name.log 2>&1 ||
        { tail -n 20 "/tmp/wrenn-tool-$name.log" >&2; die "cargo install $name $version failed (log: /tmp/wrenn-tool-$name.log)" "check access to crates.io and re-run"; }
    rm -rf "$dir" && mv "$dir.partial" "$dir"
done <<<"$WRENN_CARGO_TOOLS"

"$root/images/kernel/build.sh" >/dev/null
envd=$("$root/images/envd.sh")
"$root/images/rootfs/build.sh" base "$envd" >/dev/null
# The e2b-code-interpreter SDK's default template (Jupyter kernels on port 49999).
"$root/images/rootfs/build.sh" code-interpreter-v1 "$envd" >/dev/null
step "host ready: kernel $(readlink "$WRENN_DATA_DIR/kernels/current"), base image $(readlink "$WRENN_DATA_DIR/images/base/current")"
