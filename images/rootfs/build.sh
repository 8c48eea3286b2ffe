#!/usr/bin/env bash
# Builds a template rootfs image from Debian packages, without a container
# engine, a loop device or a mount: debootstrap into a folder, then
# `mkfs.ext4 -d`. Usage: images/rootfs/build.sh TEMPLATE ENVD_BINARY
#
# Two cached stages, both content-addressed under $WRENN_DATA_DIR:
#   build/stage-<h1>/          debootstrap + template setup (h1: template files, this script)
#   images/<template>/<h2>/    rootfs.ext4 [+ start.json] + MANIFEST.sha256 (h2: h1 + envd binary)
#
# start.json (templates whose template.env sets START_COMMAND): the start
# spec the agent hands envd (`POST /wrenn/start`) before it takes the
# template's memory snapshot: START_COMMAND, READY_COMMAND, START_USER,
# START_WORKDIR, READY_TIMEOUT_SECS.
#   images/<template>/current -> <h2>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WRENN_BUILDER=rootfs
. "$here/../lib.sh"

# json_string TEXT: TEXT as a JSON string (one-line template.env values).
json_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    printf '"%s"' "$s"
}

template=${1:?usage: build.sh TEMPLATE ENVD_BINARY}
envd=${2:?usage: build.sh TEMPLATE ENVD_BINARY}
tdir="$here/../templates/$template"
[ -f "$tdir/template.env" ] || die "unknown template '$template' (no $tdir/template.env)" \
    "use one of: $(ls "$here/../templates" | tr '\n' ' ')"
[ -x "$envd" ] || die "envd binary '$envd' not found or not executable" \
    "cargo build --release --target x86_64-unknown-linux-musl -p envd"
require_cmd debootstrap debootstrap
require_cmd mkfs.ext4 e2fsprogs
require_cmd chroot coreutils
# shellcheck disable=SC1091
. "$tdir/template.env"
mirror=${WRENN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
WRENN_BUILDER="rootfs:$template"

# Optional template inputs (code-interpreter-v1): PIP_REQUIREMENTS, a pinned
# requirements file installed offline into the venv PIP_VENV (stage 1), and a
# rootfs/ overlay copied over the root tree (stage 2, so editing it does not
# redo debootstrap).
inputs1=("$tdir/template.env" "$tdir/setup.sh" "$here/build.sh")
[ -n "${PIP_REQUIREMENTS:-}" ] && inputs1+=("$tdir/$PIP_REQUIREMENTS")
overlay=()
[ -d "$tdir/rootfs" ] && mapfile -t overlay < <(find "$tdir/rootfs" -type f | LC_ALL=C sort)
h1=$(hash_inputs "${inputs1[@]}")
h2=$(hash_inputs "${inputs1[@]}" "$envd" "${overlay[@]}")
stage="$WRENN_DATA_DIR/build/stage-$template-$h1"
out="$WRENN_DATA_DIR/images/$template/$h2"

if verify_manifest "$out"; then
    ln -sfn "$h2" "$WRENN_DATA_DIR/images/$template/current"
    step "cached image $template/$h2 is up to date"
    echo "$out"
    exit 0
fi
[ -e "$out" ] && step "cached image $template/$h2 is corrupt or incomplete; rebuilding"
require_space "$WRENN_DATA_DIR" $(( IMAGE_MIB + 1500 ))

tmp_stage="$stage.tmp-$$"
tmp_out="$WRENN_DATA_DIR/images/$template/.tmp-$h2-$$"
tree="$WRENN_DATA_DIR/build/tree-$template-$$"
trap 'rc=$?; rm -rf "$tmp_stage" "$tmp_stage.log" "$tmp_out" "$tree"; [ $rc -eq 0 ] || step "build failed; temporary files removed"' EXIT

if [ -f "$stage/.complete" ]; then
    step "reusing debootstrap stage $h1"
else
    rm -rf "$stage"
    mkdir -p "$tmp_stage"
    step "debootstrap $SUITE minbase from $mirror"
    run_logged "$tmp_stage.log" debootstrap --variant=minbase "$SUITE" "$tmp_stage" "$mirror" ||
        die "debootstrap failed (log above)" \
            "check the mirror ($mirror, override with WRENN_DEBIAN_MIRROR) and free space, then re-run"
    # Documentation, manual pages and translations are dead weight in every
    # sandbox disk: dpkg skips them from here on (in the sandbox too), and
    # what debootstrap already unpacked is pruned below. Copyright files stay.
    mkdir -p "$tmp_stage/etc/dpkg/dpkg.cfg.d"
    cat > "$tmp_stage/etc/dpkg/dpkg.cfg.d/01-wrenn-nodoc" <<'NODOC'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
NODOC
    # Installing the template's packages with apt inside the new root, rather
    # than debootstrap --include, lets apt order the configuration of large
    # dependency trees (npm) that debootstrap fails on.
    step "apt-get install $(echo "$PACKAGES" | wc -w) packages into the root"
    run_logged "$tmp_stage.log" chroot "$tmp_stage" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
        sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $PACKAGES" ||
        die "installing the template packages failed (log above)" \
            "check the package names in $tdir/template.env and the mirror, then re-run"
    if [ -n "${PIP_REQUIREMENTS:-}" ]; then
        # Wheels are fetched by the host's pip (its proxy and CA settings) for
        # the root's Python, then installed with no network inside the root.
        pyver=$(chroot "$tmp_stage" python3 -c 'import sys; print("%d%d" % sys.version_info[:2])')
        step "pip download $PIP_REQUIREMENTS (cp$pyver wheels, on the host)"
        mkdir -p "$tmp_stage/tmp/wrenn-wheels"
        cp "$tdir/$PIP_REQUIREMENTS" "$tmp_stage/tmp/wrenn-requirements.txt"
        run_logged "$tmp_stage.log" python3 -m pip download -q --no-deps --only-binary=:all: \
            --python-version "$pyver" --implementation cp --abi "cp$pyver" --abi abi3 --abi none \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
            -d "$tmp_stage/tmp/wrenn-wheels" -r "$tdir/$PIP_REQUIREMENTS" ||
            die "pip download failed (log above)" "check $tdir/$PIP_REQUIREMENTS and the host's access to PyPI"
        step "venv $PIP_VENV (offline install in the root)"
        run_logged "$tmp_stage.log" chroot "$tmp_stage" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c \
            "python3 -m venv $PIP_VENV && $PIP_VENV/bin/pip install -q --no-index --no-deps --disable-pip-version-check --find-links /tmp/wrenn-wheels -r /tmp/wrenn-requirements.txt" ||
            die "pip install in the root failed (log above)" "check $tdir/$PIP_REQUIREMENTS"
        rm -rf "$tmp_stage/tmp/wrenn-wheels" "$tmp_stage/tmp/wrenn-requirements.txt"
    fi
    rm -f "$tmp_stage.log"
    step "template setup (users, sudo)"
    cp "$tdir/setup.sh" "$tmp_stage/tmp/wrenn-setup.sh"
    chroot "$tmp_stage" /bin/sh /tmp/wrenn-setup.sh
    rm -f "$tmp_stage/tmp/wrenn-setup.sh"
    # apt's download cache and lists are dead weight in every sandbox disk.
    rm -rf "$tmp_stage"/var/cache/apt/archives/*.deb "$tmp_stage"/var/cache/apt/*.bin \
        "$tmp_stage"/var/lib/apt/lists/*
    find "$tmp_stage/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$tmp_stage/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$tmp_stage"/usr/share/man/* "$tmp_stage"/usr/share/info/* "$tmp_stage"/usr/share/lintian/*
    find "$tmp_stage/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    touch "$tmp_stage/.complete"
    mv "$tmp_stage" "$stage"
fi

step "assembling root tree with envd"
cp -a --reflink=auto "$stage" "$tree"
rm -f "$tree/.complete"
install -m 0755 "$envd" "$tree/usr/bin/envd"
[ ${#overlay[@]} -gt 0 ] && cp -a --no-preserve=ownership "$tdir/rootfs/." "$tree/"
echo "wrenn" > "$tree/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\twrenn\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$tree/etc/hosts"
printf 'template=%s\nimage=%s\nbuilt=%s\n' "$template" "$h2" "$(date -u +%FT%TZ)" > "$tree/etc/wrenn-release"

step "mkfs.ext4 -d ($IMAGE_MIB MiB, sparse)"
mkdir -p "$tmp_out"
mkfs.ext4 -q -F -L wrenn-root -E root_owner=0:0 -d "$tree" "$tmp_out/rootfs.ext4" "${IMAGE_MIB}M" ||
    die "mkfs.ext4 failed" "the template may not fit in IMAGE_MIB=$IMAGE_MIB; raise it in $tdir/template.env"
artefacts=(rootfs.ext4)
if [ -n "${START_COMMAND:-}" ]; then
    case ${READY_TIMEOUT_SECS:-0} in *[!0-9]*) die "READY_TIMEOUT_SECS='$READY_TIMEOUT_SECS' is not a number of seconds" "fix it in $tdir/template.env" ;; esac
    step "start spec: $START_COMMAND"
    printf '{"start_command":%s,"ready_command":%s,"user":%s,"workdir":%s,"env":{},"ready_timeout_secs":%d}\n' \
        "$(json_string "$START_COMMAND")" "$(json_string "${READY_COMMAND:-}")" \
        "$(json_string "${START_USER:-}")" "$(json_string "${START_WORKDIR:-}")" \
        "$((10#${READY_TIMEOUT_SECS:-0}))" > "$tmp_out/start.json"
    artefacts+=(start.json)
fi
write_manifest "$tmp_out" "${artefacts[@]}"
publish "$tmp_out" "$out"
ln -sfn "$h2" "$WRENN_DATA_DIR/images/$template/current"
step "image $template/$h2 ready ($(du -h --apparent-size "$out/rootfs.ext4" | cut -f1) apparent, $(du -h "$out/rootfs.ext4" | cut -f1) used)"
echo "$out"
