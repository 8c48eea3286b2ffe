# A local OCI registry holding an image made with Debian's tools, for the
# `FROM <image>` checks of tests/builds/run.sh (sourced, not run):
#   oci_registry_start DIR   Debian's docker-registry on 127.0.0.1:$OCI_PORT,
#                            plain HTTP, htpasswd (bcrypt) auth, its own config
#                            and storage in DIR; sets OCI_PORT, OCI_USER,
#                            OCI_PASSWORD, oci_registry_pid
#   oci_image_push DIR REF   builds an image with umoci (two layers: a tiny
#                            root of the host's bash and coreutils with their
#                            libraries, then a layer that adds a file and
#                            whites one out), sets its config (Env,
#                            WorkingDir) and pushes it with skopeo
#   oci_registry_stop
# Nothing is pulled from Docker Hub: the only network is the local registry.

oci_registry_start() { # DIR
    local dir=$1
    mkdir -p "$dir/store"
    OCI_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    OCI_USER=wrenn-test
    OCI_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    htpasswd -Bbn "$OCI_USER" "$OCI_PASSWORD" >"$dir/htpasswd" 2>/dev/null || return 1
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/store
http:
  addr: 127.0.0.1:$OCI_PORT
auth:
  htpasswd:
    realm: wrenn-test
    path: $dir/htpasswd
EOF
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    oci_registry_pid=$!
    local code
    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OCI_PORT/v2/")
        [ "$code" = 401 ] && return 0
        sleep 0.1
    done
    echo "  the registry did not start (last answer $code)" >&2
    tail -5 "$dir/registry.log" >&2
    return 1
}

oci_registry_stop() {
    [ -n "${oci_registry_pid:-}" ] && kill "$oci_registry_pid" 2>/dev/null && wait "$oci_registry_pid" 2>/dev/null
    oci_registry_pid=
}

# oci_root_add ROOT PROGRAM...: the host's programs and the libraries they
# load, at the same paths, in a merged-/usr root.
oci_root_add() {
    local root=$1 p f
    shift
    mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/sbin"
    for d in bin lib lib64 sbin; do [ -e "$root/$d" ] || ln -s "usr/$d" "$root/$d"; done
    for p in "$@"; do
        p=$(type -P "$p") || { echo "  no $p on this host" >&2; return 1; }
        for f in "$p" $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*'); do
            install -D -m 0755 "$(readlink -f "$f")" "$root/usr/${f#/usr}" || return 1
            case $f in /usr/*) ;; *) [ -e "$root/usr$f" ] || { mkdir -p "$(dirname "$root/usr$f")"; cp -L "$f" "$root/usr$f"; } ;; esac
        done
    done
}

oci_image_push() { # DIR REF (registry/repo:tag)
    local dir=$1 ref=$2 layout=$1/layout bundle=$1/bundle
    rm -rf "$layout" "$bundle"
    umoci init --layout "$layout" || return 1
    umoci new --image "$layout:img" || return 1
    umoci unpack --image "$layout:img" "$bundle" >/dev/null || return 1
    local root=$bundle/rootfs
    oci_root_add "$root" bash cat ls mkdir chown chmod id stat rm cp mv ln touch env test tar sleep || return 1
    ln -sf bash "$root/usr/bin/sh"
    mkdir -p "$root/etc" "$root/root" "$root/tmp" "$root/srv"
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    echo from-oci-image >"$root/etc/oci-marker"
    echo doomed >"$root/etc/oci-removed"
    umoci repack --image "$layout:img" "$bundle" >/dev/null || return 1
    # Layer 2: a file added, one removed (a whiteout).
    rm -rf "$bundle"
    umoci unpack --image "$layout:img" "$bundle" >/dev/null || return 1
    rm "$bundle/rootfs/etc/oci-removed"
    echo second-layer >"$bundle/rootfs/etc/oci-layer2"
    umoci repack --image "$layout:img" "$bundle" >/dev/null || return 1
    umoci config --image "$layout:img" --config.env OCI_TEST=from-config \
        --config.workingdir /srv >/dev/null || return 1
    skopeo copy -q --dest-tls-verify=false --dest-creds "$OCI_USER:$OCI_PASSWORD" \
        "oci:$layout:img" "docker://$ref" || return 1
}
