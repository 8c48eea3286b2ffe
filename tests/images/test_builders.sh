#!/usr/bin/env bash
# Tests of the image builders' failure handling (images/lib.sh and the
# builders' argument checks), without rebuilding anything large.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # NAME CONDITION-RESULT
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1" >&2; fi
}

# shellcheck disable=SC1091
. "$root/images/lib.sh"

# A good cache entry verifies; a flipped byte or a missing manifest does not.
mkdir -p "$tmp/entry" && printf 'kernel bytes' > "$tmp/entry/bzImage"
write_manifest "$tmp/entry" bzImage
verify_manifest "$tmp/entry"; check "verify_manifest accepts an intact entry" $?
printf 'kernel bytez' > "$tmp/entry/bzImage"
! verify_manifest "$tmp/entry"; check "verify_manifest rejects a corrupt artefact" $?
printf 'kernel bytes' > "$tmp/entry/bzImage"
verify_manifest "$tmp/entry"; check "verify_manifest accepts the entry restored" $?
touch -d '2001-01-01' "$tmp/entry/bzImage"
verify_manifest "$tmp/entry" && [ "$(awk '{print $3}' "$tmp/entry/MANIFEST.stat")" = 2001-01-01 ]
check "a full check refreshes the fast-path record" $?
printf 'kernel bytez' > "$tmp/entry/bzImage"; touch -d '2001-01-01' "$tmp/entry/bzImage"
WRENN_VERIFY_CACHE=1 verify_manifest "$tmp/entry"; [ $? -ne 0 ]
check "WRENN_VERIFY_CACHE=1 hashes again even when size and mtime match" $?
rm "$tmp/entry/MANIFEST.sha256"
! verify_manifest "$tmp/entry"; check "verify_manifest rejects an entry without manifest" $?

# publish replaces a previous (corrupt) entry atomically.
mkdir -p "$tmp/new" "$tmp/final" && echo new > "$tmp/new/f" && echo old > "$tmp/final/f"
publish "$tmp/new" "$tmp/final"
[ "$(cat "$tmp/final/f")" = new ] && [ ! -e "$tmp/new" ] && [ ! -e "$tmp/final.old" ]; check "publish swaps in the new entry" $?

# Missing tools name the package to install.
out=$( (require_cmd wrenn-no-such-tool wrenn-pkg) 2>&1 ); rc=$?
[ $rc -ne 0 ] && grep -q "apt-get install -y wrenn-pkg" <<<"$out"; check "require_cmd names the package" $?

# Not enough space is refused before starting.
out=$( (require_space "$tmp" 999999999) 2>&1 ); rc=$?
[ $rc -ne 0 ] && grep -q "not enough free space" <<<"$out"; check "require_space refuses a full disk" $?

# The rootfs builder rejects an unknown template and a missing envd binary.
out=$(WRENN_DATA_DIR="$tmp/data" "$root/images/rootfs/build.sh" no-such-template /bin/true 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "unknown template 'no-such-template'" <<<"$out" && grep -q "use one of: base" <<<"$out"
check "rootfs build rejects an unknown template" $?
out=$(WRENN_DATA_DIR="$tmp/data" "$root/images/rootfs/build.sh" base "$tmp/no-envd" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "envd binary" <<<"$out"; check "rootfs build rejects a missing envd" $?

# A cached, intact kernel is a hit in well under a second (no rebuild).
if [ -e "${WRENN_DATA_DIR:-/var/lib/wrenn}/kernels/current/MANIFEST.sha256" ]; then
    out=$("$root/images/kernel/build.sh" 2>&1); rc=$?
    [ $rc -eq 0 ] && grep -q "is up to date" <<<"$out"; check "kernel build is a cache hit when inputs are unchanged" $?
fi

# The built `base` image has what e2b users expect (read with debugfs, no
# mount): python and pip under those names, git, curl, sudo, the user
# `user` with passwordless sudo, and no documentation or apt lists.
base="${WRENN_DATA_DIR:-/var/lib/wrenn}/images/base/current/rootfs.ext4"
if [ -r "$base" ] && command -v debugfs >/dev/null; then
    in_image() { debugfs -R "$1" "$base" 2>/dev/null; }
    for f in /usr/bin/python /usr/bin/python3 /usr/bin/pip /usr/bin/pip3 /usr/bin/git \
        /usr/bin/curl /usr/bin/sudo /usr/bin/envd /home/user; do
        in_image "stat $f" | grep -q "^Inode:"; check "base image has $f" $?
    done
    in_image "cat /etc/passwd" | grep -qx 'user:x:1000:1000::/home/user:/bin/bash'
    check "base image has the user 'user' (home /home/user)" $?
    in_image "cat /etc/sudoers.d/90-wrenn-user" | grep -qx 'user ALL=(ALL:ALL) NOPASSWD: ALL'
    check "base image lets 'user' sudo without a password" $?
    # Entries of a directory in the image, but . and .. and those named.
    entries() { in_image "ls -p $1" | awk -F/ 'NF > 5 { print $6 }' | grep -cvxE "\.|\.\.${2:+|$2}"; }
    [ "$(entries /usr/share/man)" -eq 0 ] && [ "$(entries /var/lib/apt/lists 'partial|lock')" -eq 0 ]
    check "base image has no manual pages or apt lists" $?
fi

echo "images: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
