#!/usr/bin/env bash
# Builds the Wrenn guest kernel from Debian's linux-source-6.1 package and the
# microVM fragment beside this script. Output (content-addressed):
#   $WRENN_DATA_DIR/kernels/<hash>/{vmlinux,bzImage,config,MANIFEST.sha256}
#   $WRENN_DATA_DIR/kernels/current -> <hash>
# The hash covers the fragment, this script and the source package version, so
# a second run with the same inputs is a cache hit and returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WRENN_BUILDER=kernel
. "$here/../lib.sh"

src_tar=/usr/src/linux-source-6.1.tar.xz
[ -f "$src_tar" ] || die "kernel source $src_tar is missing" "apt-get install -y linux-source-6.1"
for c in make:make gcc:gcc bc:bc bison:bison flex:flex xz:xz-utils cpio:cpio perl:perl; do
    require_cmd "${c%%:*}" "${c#*:}"
done
[ -f /usr/include/libelf.h ] || die "libelf headers missing" "apt-get install -y libelf-dev"
[ -f /usr/include/openssl/ssl.h ] || die "OpenSSL headers missing" "apt-get install -y libssl-dev"

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %s "$src_tar")
hash=$(printf '%s\n' "$src_version" | cat - "$here/microvm.config" "$here/build.sh" | sha256sum | cut -c1-16)
out="$WRENN_DATA_DIR/kernels/$hash"

if verify_manifest "$out"; then
    ln -sfn "$hash" "$WRENN_DATA_DIR/kernels/current"
    step "cached kernel $hash is up to date"
    echo "$out"
    exit 0
fi
[ -e "$out" ] && step "cached kernel $hash is corrupt or incomplete; rebuilding"

require_space "$WRENN_DATA_DIR" 3000
work="$WRENN_DATA_DIR/build/kernel-$hash"
rm -rf "$work"
mkdir -p "$work"
tmp="$WRENN_DATA_DIR/kernels/.tmp-$hash-$$"
# Whatever happens, never leave a half-written tree that looks like a result.
trap 'rc=$?; rm -rf "$work" "$tmp"; [ $rc -eq 0 ] || step "build failed; removed $work"' EXIT

step "unpacking $src_tar ($src_version)"
tar -C "$work" -xf "$src_tar"
ksrc="$work/linux-source-6.1"

step "configuring: tinyconfig + microvm.config"
make -C "$ksrc" -s ARCH=x86_64 tinyconfig >/dev/null
"$ksrc/scripts/kconfig/merge_config.sh" -m -O "$ksrc" "$ksrc/.config" "$here/microvm.config" >/dev/null
make -C "$ksrc" -s ARCH=x86_64 olddefconfig >/dev/null

missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y$' "$here/microvm.config" | while read -r line; do
    grep -qx "$line" "$ksrc/.config" || echo "${line%=y}"
done)
[ -z "$missing" ] || die "kernel options dropped by olddefconfig (unmet dependencies): $(echo $missing)" \
    "add their dependencies to images/kernel/microvm.config"

jobs=$(nproc)
step "compiling vmlinux and bzImage with $jobs jobs (about 10 min on 2 cores)"
make -C "$ksrc" -s ARCH=x86_64 -j"$jobs" vmlinux bzImage 2>&1 | grep -v '^  ' >&2 || true
[ -f "$ksrc/vmlinux" ] && [ -f "$ksrc/arch/x86/boot/bzImage" ] ||
    die "kernel compile failed (see output above)" "check free disk space and build dependencies, then re-run"

mkdir -p "$tmp"
cp "$ksrc/vmlinux" "$tmp/vmlinux"
cp "$ksrc/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$ksrc/.config" "$tmp/config"
write_manifest "$tmp" vmlinux bzImage config
publish "$tmp" "$out"
ln -sfn "$hash" "$WRENN_DATA_DIR/kernels/current"
step "kernel $hash ready: $(du -h "$out/bzImage" | cut -f1) bzImage, $(du -h "$out/vmlinux" | cut -f1) vmlinux"
echo "$out"
