#!/usr/bin/env bash
# Security check: an unprivileged local user finds nothing it can read on a
# Wrenn host (issue #11, found items 1 and 2, and host least privilege).
# Starts a real `wrenn-agent serve` on the data directory (/var/lib/wrenn,
# or $WRENN_DATA_DIR) and a real control plane as its own user `wrenn` on a
# fresh SQLite database, makes a running sandbox, a paused one and a
# template with a memory snapshot, then as `nobody`:
#   - walks the data directory, the database directory and /etc/wrenn: no
#     file readable, no directory listable;
#   - found item 1: cannot read the sandbox's record, so cannot get its envd
#     token, and envd refuses the file API to whatever it could find; the
#     record holds no plaintext token even for root;
#   - found item 2: cannot read wrenn.db, -wal or -shm (all 0600);
# and checks each sandbox's QEMU runs as a non-root uid, under seccomp
# (Seccomp: 2), with no capabilities, in a cgroup of its own.
# Needs root, the kernel and the `base` image; takes /tmp/wrenn-vm.lock.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
name=unprivileged_reader
logs="$root/target/test-logs"
data=${WRENN_DATA_DIR:-/var/lib/wrenn}
mkdir -p "$logs"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok: $1"; }
bad() { failed=$((failed + 1)); echo "  FAILED: $1" >&2; }
check() { # DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
    echo "$name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}
abort() { bad "$1"; finish; }

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || abort "must run as root (the agent makes namespaces; the check switches to nobody)"
    cargo build -q -p wrenn-agent -p wrenn-cp || abort "cargo build"
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

WRENN_BUILDER=security
. "$root/images/lib.sh"
ensure_system_user wrenn "Wrenn control plane"
ensure_system_user wrenn-vm "Wrenn microVM processes (QEMU after it drops root)"

. "$root/tests/lib/stack.sh"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --no-new-privs -- "$@"; }

# The database in a directory the control plane makes itself, inside one
# it owns that everyone may enter.
work=$(mktemp -d)
chmod 755 "$work"
chown wrenn:wrenn "$work"
db="$work/cp/wrenn.db"
key=""

api() { # METHOD PATH [BODY]
    curl -fsS -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        "$cp_url$2" ${3:+-d "$3"}
}
cleanup() {
    if [ -n "$key" ]; then
        for id in ${running:-} ${paused:-}; do api DELETE "/v1/sandboxes/$id" >/dev/null 2>&1; done
        api DELETE /v1/templates/sectest-snap >/dev/null 2>&1
    fi
    stack_stop
    rm -rf "$work"
}
trap cleanup EXIT

# The agent on the data directory; the control plane as its own
# unprivileged user, started the way deploy/wrenn-services.sh starts it,
# with the control plane's own rate limits and sandbox cap.
WRENN_DATA_DIR=$data stack_start security-reader --no-tls --db "sqlite://$db" --cp-user wrenn \
    CP_RATE_LIMIT=on CP_MAX_SANDBOXES_PER_TEAM=100 || abort "the stack did not start"
cp_url=$STACK_URL
cp_pid=$stack_cp_pid
check "the control plane runs as wrenn, not root" \
    test "$(stat -c %U "/proc/$cp_pid")" = wrenn

token=$(curl -fsS -H 'Content-Type: application/json' "$cp_url/v1/auth/signup" \
    -d '{"email":"reader@wrenn.test","password":"unprivileged-reader-password"}' | json_field '["token"]') ||
    abort "signup"
key=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    "$cp_url/v1/keys" -d '{"name":"reader"}' | json_field '["key"]') || abort "API key"

running=$(api POST /v1/sandboxes '{"template":"base"}' | json_field '["id"]') || abort "create the running sandbox"
paused=$(api POST /v1/sandboxes '{"template":"base"}' | json_field '["id"]') || abort "create the sandbox to pause"
api POST "/v1/sandboxes/$paused/pause" >/dev/null || abort "pause"
api POST "/v1/sandboxes/$running/snapshot" '{"name":"sectest-snap","memory":true}' >/dev/null ||
    abort "template snapshot"
api POST "/v1/sandboxes/$running/exec" '{"command":"true"}' >/dev/null || abort "exec after the snapshot"
record="$data/sandboxes/$running/sandbox.json"
[ -f "$record" ] || abort "no record at $record"
[ -f "$data/sandboxes/$paused/snapshot/memory" ] || abort "the paused sandbox has no memory image"

echo "as nobody: every path under $data, $(dirname "$db") and /etc/wrenn"
# Root lists every path (as an attacker could guess them); nobody tries to
# open each file and list each directory. /usr/bin/python3: root's may be a
# shim nobody cannot run.
paths="$work/paths"
/usr/bin/python3 - "$data" "$(dirname "$db")" /etc/wrenn >"$paths" <<'PY'
import os, sys
for top in sys.argv[1:]:
    print(top)
    for base, dirs, files in os.walk(top):
        for n in dirs + files:
            print(os.path.join(base, n))
PY
chmod 644 "$paths"
walk=$(as_nobody /usr/bin/python3 - "$paths" <<'PY'
import os, sys
paths = [l.rstrip("\n") for l in open(sys.argv[1])]
found = []
for p in paths:
    if os.path.islink(p):
        continue
    try:
        if os.path.isdir(p):
            os.listdir(p)
            found.append(f"listable {p}")
        else:
            with open(p, "rb") as f:
                f.read(1)
            found.append(f"readable {p}")
    except OSError:
        pass
print(f"tried {len(paths)}")
print("\n".join(found))
PY
)
tried=$(sed -n 's/^tried //p' <<<"$walk")
# Certificates are public (the local CA is in the system trust store, and
# Node users read it through NODE_EXTRA_CA_CERTS as themselves); the TLS key
# beside them is still checked.
reachable=$(grep -v '^tried ' <<<"$walk" | grep -v -x -E 'listable /etc/wrenn/tls|readable /etc/wrenn/tls/[^/]+\.crt' | grep .)
check "nobody tried every path ($tried, the records, disks and snapshots among them)" \
    test "${tried:-0}" -ge 20
if [ -z "$reachable" ] && [ -n "$tried" ]; then
    ok "nobody can list no directory and read no file of those $tried"
else
    bad "nobody can reach: $(echo "$reachable" | head -20 | tr '\n' ' ')"
fi
for dir in "$data" "$data/sandboxes" "$data/sandboxes/$running" "$data/sandboxes/$paused" "$data/snapshots"; do
    check "nobody cannot list $dir" bash -c '! setpriv --reuid=nobody --regid=nogroup --clear-groups -- ls "$1" >/dev/null 2>&1' _ "$dir"
done

# Found item 1, exactly as reproduced: the record's token, then envd.
check "nobody cannot read the running sandbox's record" \
    bash -c '! setpriv --reuid=nobody --regid=nogroup --clear-groups -- cat "$1" >/dev/null 2>&1' _ "$record"
check "sandbox.json is 0600 root" test "$(stat -c '%a %U' "$record")" = "600 root"
check "the record holds the envd token sealed, not in plaintext" \
    python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["access_token"]; sys.exit(0 if isinstance(t, dict) and set(t) == {"sealed"} else 1)' "$record"
envd_addr=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["envd_addr"])' "$record")
stolen=$(as_nobody cat "$record" 2>/dev/null)
check "nobody gets nothing out of the record (no token)" test -z "$stolen"
code=$(as_nobody curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Access-Token: $stolen" \
    "http://$envd_addr/files?path=/etc/shadow&username=root")
check "envd refuses nobody the guest's /etc/shadow (HTTP $code)" test "$code" = 401
sealed=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["access_token"]["sealed"])' "$record")
code=$(as_nobody curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Access-Token: $sealed" \
    "http://$envd_addr/files?path=/etc/shadow&username=root")
check "the sealed token (should it leak) does not open envd either (HTTP $code)" test "$code" = 401
for f in "$data/sandboxes/$paused/snapshot/memory" "$data/sandboxes/$running/run/console.log"; do
    check "$(basename "$f") is root's only" test "$(stat -c '%a %U' "$f")" = "600 root"
done
for f in $(find "$data/sandboxes/$running" "$data/sandboxes/$paused" -maxdepth 1 -type f -name 'disk.*'); do
    check "disk $(basename "$f") is 0600" test "$(stat -c '%a' "$f")" = 600
done

# Found item 2: the database.
for f in "$db" "$db-wal" "$db-shm"; do
    check "$(basename "$f") is 0600 wrenn" test "$(stat -c '%a %U' "$f")" = "600 wrenn"
    check "nobody cannot read $(basename "$f")" \
        bash -c '! setpriv --reuid=nobody --regid=nogroup --clear-groups -- cat "$1" >/dev/null 2>&1' _ "$f"
done
check "the database directory is 0700 wrenn" test "$(stat -c '%a %U' "$(dirname "$db")")" = "700 wrenn"

# The QEMU of the running sandbox.
pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$record")
status=$(cat "/proc/$pid/status" 2>/dev/null)
uid=$(awk '/^Uid:/ { print $2 }' <<<"$status")
check "QEMU $pid runs as a non-root uid ($uid = wrenn-vm)" test "$uid" = "$(id -u wrenn-vm)"
check "QEMU $pid has seccomp on (Seccomp: 2)" grep -qx $'Seccomp:\t2' <<<"$status"
check "QEMU $pid holds no capabilities" grep -qx $'CapEff:\t0000000000000000' <<<"$status"
if grep -q '^0::/wrenn/vm-' "/proc/$pid/cgroup" 2>/dev/null; then
    check "QEMU $pid is in its own cgroup v2 group" grep -qx "0::/wrenn/vm-$pid" "/proc/$pid/cgroup"
else
    for c in cpu memory pids; do
        check "QEMU $pid is in its own $c cgroup" grep -Eq "^[0-9]+:([a-z_,]*,)?$c(,[a-z_,]*)?:/wrenn/vm-$pid\$" "/proc/$pid/cgroup"
    done
fi
finish
