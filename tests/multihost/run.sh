#!/usr/bin/env bash
# Multi-host end-to-end test (docs/hosts.md): one control plane (SQLite) in
# the root network namespace and three wrenn-agents, each in its own network
# namespace (wmh-a, wmh-b, wmh-c, see lib.sh) with its own data dir, sandbox
# namespace prefix and token file, registered with `serve --register`.
#
# Agent C serves TLS with a self-signed certificate (pinned at registration).
# Templates on every host: a template snapshotted on A starts on C after C
# fetched and verified it; a tampered one is refused; delete frees both.
# Checks: registration and visibility of shared and BYOC hosts; placement
# (team A never on team B's BYOC host, team B on its BYOC host, `gpu` tag on
# host C); exec in each sandbox; SIGKILL of agent A makes host A
# `unreachable` and its sandbox `lost` within CP_HOST_DEAD_SECS + 2 monitor
# ticks + slack, and a restart from the token file brings both back without
# touching the other agents' sandboxes; reuse of
# a consumed registration token fails; host delete refuses live sandboxes
# without ?force=true, and with it the agent exits 3 on its next heartbeat;
# nothing (namespaces, links, QEMU processes, directories) is left.
# Prints the measured figures and, last, `multihost: N passed, M failed`.
#   tests/multihost/run.sh          (root; kernel and `base` image built)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
logs="$root/target/test-logs"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
mkdir -p "$logs"
passed=0
failed=0

abort() { # REASON: a step the rest depends on failed
    echo "multihost: ABORT: $1" >&2
    failed=$((failed + 1))
    echo "multihost: $passed passed, $failed failed"
    exit 1
}

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || abort "must run as root (network namespaces, TAP devices)"
    [ -e /var/lib/wrenn/images/base/current ] || abort "no base image: run deploy/setup-host.sh"
    cargo build -q -p wrenn-agent -p wrenn-cp || abort "cargo build"
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

work=$(mktemp -d /tmp/wrenn-multihost.XXXXXX)
# shellcheck source=tests/multihost/lib.sh
source "$root/tests/multihost/lib.sh"
for f in "$logs"/multihost-*.log; do [ -e "$f" ] && : >"$f"; done

cleanup() {
    local x
    for x in a b c d; do mh_stop "${MH_PID[$x]:-}"; done
    mh_stop "${MH_PID[cp]:-}"
    mh_kill_vms
    mh_net_down
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

ok() { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1${2:+: $2}"; }
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
    local name=$1 rc=0
    shift
    if "$@"; then ok "$name"; else rc=1; bad "$name" "${detail:-}"; fi
    detail=""
    return "$rc"
}
is() { [ "$1" = "$2" ] || { detail="got '$1', want '$2'"; return 1; }; }
in_list() { local v=$1; shift; [[ " $* " == *" $v "* ]] || { detail="got '$v', want one of: $*"; return 1; }; }
# answered STATUS...: the last api call answered one of these.
answered() { in_list "$status" "$@" || detail="$detail; body: ${body:0:300}"; [[ " $* " == *" $status "* ]]; }

mh_net_up a b c || abort "network namespaces"
mh_start_cp || { tail -20 "$logs/multihost-cp.log"; abort "the control plane did not start"; }

# --- users and hosts -----------------------------------------------------
mh_signup admin@multihost.test || abort "signup admin: $status $body"
admin=$token
team_a=$team
mh_signup owner-b@multihost.test || abort "signup team B: $status $body"
owner_b=$token
team_b=$team
api GET /v1/me "$admin"
check "the first user is platform admin" is "$(field '["user"]["is_admin"]')" True

api POST /v1/hosts "$owner_b" '{"name":"not-mine","byoc":false}'
check "a team owner cannot create a shared host" answered 403

declare -A host tok
mh_create_host "$admin" '{"name":"host-a","byoc":false,"tags":[]}' || abort "create host A: $status $body"
host[a]=$host_id tok[a]=$reg_token
mh_create_host "$admin" '{"name":"host-c","byoc":false,"tags":["gpu"]}' || abort "create host C: $status $body"
host[c]=$host_id tok[c]=$reg_token
mh_create_host "$owner_b" '{"name":"host-b","byoc":true}' || abort "create host B: $status $body"
host[b]=$host_id tok[b]=$reg_token
check "a new host is pending" is "$(mh_host_status "${host[a]}" "$admin")" pending
cred() { if [ "$1" = b ]; then echo "$owner_b"; else echo "$admin"; fi; }

# --- registration ----------------------------------------------------------
# Agent C serves TLS with a self-signed certificate: registration reports its
# SHA-256, the control plane pins it and dials https://.
pin_c=$(mh_tls_cert c) || abort "openssl: self-signed certificate"
MH_ENV[c]="AGENT_TLS_CERT=$work/c/cert.pem AGENT_TLS_KEY=$work/c/key.pem"
declare -A online_ms
for x in a b c; do
    started=$(mh_now_ms)
    mh_start_agent "$x" --register "${tok[$x]}" --address "$(mh_agent_addr "$x")" --cp-url "$cp_url"
    if waited=$(mh_wait_host "${host[$x]}" online 60 "$(cred "$x")"); then
        online_ms[$x]=$(($(mh_now_ms) - started))
        ok "agent $x registers and host $x is online (${online_ms[$x]} ms after the agent started)"
    else
        bad "agent $x registers and host $x is online" "$(tail -5 "$logs/multihost-agent-$x.log")"
    fi
    # The host is online as soon as the control plane answered the
    # registration; the agent writes the token it got a moment later.
    for _ in $(seq 1 100); do [ -e "$work/$x/host-token" ] && break; sleep 0.1; done
    check "agent $x saved its token file with mode 600" is "$(stat -c %a "$work/$x/host-token" 2>/dev/null)" 600
done
api GET /v1/hosts "$admin"
check "the admin sees all three hosts online" is \
    "$(field '["hosts"]' | python3 -c 'import ast, sys; print(sorted(h["name"] + ":" + h["status"] for h in ast.literal_eval(sys.stdin.read())))')" \
    "['host-a:online', 'host-b:online', 'host-c:online']"
api GET /v1/hosts "$owner_b"
check "team B sees only its BYOC host" is \
    "$(field '["hosts"]' | python3 -c 'import ast, sys; print([h["name"] for h in ast.literal_eval(sys.stdin.read())])')" \
    "['host-b']"
api GET "/v1/hosts/${host[a]}" "$owner_b"
check "another team's host answers 404" answered 404
api GET "/v1/hosts/${host[c]}" "$admin"
check "host C's TLS certificate is pinned at registration" is "$(field '["tls_fingerprint"]')" "$pin_c"
api GET "/v1/hosts/${host[a]}" "$admin"
check "host A (plain HTTP) has no pin" is "$(field '["tls_fingerprint"]')" ""

api POST /v1/hosts/register "" "{\"token\":\"${tok[a]}\",\"address\":\"10.251.1.2:50052\",\"specs\":{\"arch\":\"x86_64\",\"cpus\":1,\"memory_mb\":1024,\"disk_mb\":1024,\"backend\":\"qemu\",\"accelerator\":\"tcg\",\"agent_version\":\"0.1.0\",\"tls_cert_sha256\":null}}"
check "a consumed registration token is refused (409/401)" answered 409 401
# The same through the agent: a second agent in wmh-a with the used token.
mkdir -p "$work/d/data" && ln -s "$MH_DATA_SRC/kernels" "$work/d/data/kernels" && ln -s "$MH_DATA_SRC/images" "$work/d/data/images"
ip netns exec wmh-a env WRENN_DATA_DIR="$work/d/data" AGENT_LISTEN_ADDR=10.251.1.2:50052 \
    AGENT_TOKEN_FILE="$work/d/host-token" AGENT_NETNS_PREFIX=wmd- AGENT_BACKEND=qemu AGENT_VM_CONFINEMENT=off \
    "$bin/wrenn-agent" --register "${tok[a]}" --address 10.251.1.2:50052 --cp-url "$cp_url" \
    >"$logs/multihost-agent-d.log" 2>&1
rc=$?
check "wrenn-agent --register with a consumed token exits 2" is "$rc" 2
check "... and prints the control plane's error code" \
    grep -qE 'host_already_registered|invalid_registration_token' "$logs/multihost-agent-d.log"
check "... and writes no token file" test ! -e "$work/d/host-token"
ip netns exec wmh-a "$bin/wrenn-agent" --register wrh_short --address 10.251.1.2:50052 --cp-url "$cp_url" >/dev/null 2>&1
check "a malformed registration token is refused locally (exit 2)" is "$?" 2

# --- placement and exec ------------------------------------------------------
# create CREDENTIAL JSON: sets $sandbox and $on (its host id).
create() {
    api POST /v1/sandboxes "$1" "$2"
    sandbox=$(field '["id"]')
    on=$(field '["host_id"]')
    [ "$status" = 201 ] || { detail="$status ${body:0:300}"; return 1; }
}
spec='"template":"base","vcpus":1,"memory_mb":256,"timeout_secs":1800'
declare -A sb
if create "$admin" "{$spec,\"tags\":[\"gpu\"]}"; then
    sb[gpu]=$sandbox
    check "a sandbox asking for tag gpu lands on host C" is "$on" "${host[c]}"
else
    bad "create a gpu sandbox" "$detail"
fi
# Untagged team-A sandboxes go to A or C; make one land on A (the emptier).
for _ in 1 2 3; do
    create "$admin" "{$spec}" || { bad "create a team A sandbox" "$detail"; break; }
    check "a team A sandbox lands on a shared host" in_list "$on" "${host[a]}" "${host[c]}"
    if [ "$on" = "${host[a]}" ]; then sb[a]=$sandbox; break; fi
    sb[extra]="${sb[extra]:-} $sandbox"
done
[ -n "${sb[a]:-}" ] || bad "one team A sandbox on host A" "none in 3 tries"
if create "$owner_b" "{$spec}"; then
    sb[b]=$sandbox
    check "a team B sandbox lands on its BYOC host B" is "$on" "${host[b]}"
else
    bad "create a team B sandbox" "$detail"
fi
# exec_echo KEY CREDENTIAL
exec_echo() {
    api POST "/v1/sandboxes/${sb[$1]}/exec" "$2" "{\"command\":\"echo multihost-$1\"}"
    [ "$status" = 200 ] && [ "$(field '["stdout"]')" = "multihost-$1" ] ||
        { detail="$status ${body:0:300}"; return 1; }
}
owner_of() { if [ "$1" = b ]; then echo "$owner_b"; else echo "$admin"; fi; }
for key in gpu a b; do
    [ -n "${sb[$key]:-}" ] || continue
    check "exec echo in the $key sandbox$([ $key = gpu ] && echo ' (host C, over TLS)')" exec_echo "$key" "$(owner_of $key)"
done

# Heartbeats report each host's load: host B runs one 1-vCPU, 256 MiB sandbox.
load_of_b() {
    api GET "/v1/hosts/${host[b]}" "$owner_b"
    field '["load"]' | python3 -c '
import ast, sys
load = ast.literal_eval(sys.stdin.read())
print(load["sandboxes_running"], load["free_vcpus"])'
}
expected_load="1 $(( $(api GET "/v1/hosts/${host[b]}" "$owner_b"; field '["specs"]["cpus"]') - 1 ))"
for _ in $(seq 1 40); do [ "$(load_of_b 2>/dev/null)" = "$expected_load" ] && break; sleep 0.25; done
check "host B's heartbeat reports its running sandbox and the vCPU it holds" is "$(load_of_b 2>/dev/null)" "$expected_load"

# --- templates on every host ---------------------------------------------------
# A template snapshotted on host A starts on host C (the only `gpu` host), which
# fetches it from agent A with a grant the control plane signed, verifies every
# file by hash and publishes it; a tampered copy is refused and leaves nothing;
# deleting the template frees it on both hosts.
new_images() { # X BEFORE: the tm-* images of agent X not in BEFORE
    comm -13 <(tr ' ' '\n' <<<"$2" | sort) <(ls "$work/$1/data/images" | grep '^tm-' | sort) | head -1
}
snapshot_a() { # NAME: snapshots sb[a] into team template NAME; sets $image
    local before
    before=$(ls "$work/a/data/images" | grep '^tm-' | tr '\n' ' ')
    api POST "/v1/sandboxes/${sb[a]}/snapshot" "$admin" "{\"name\":\"$1\"}"
    image=$(new_images a "$before")
    [ "$status" = 201 ] && [ -n "$image" ] || { detail="$status ${body:0:300}"; return 1; }
}
# The agent's log lines for fetches of image $1 (colour codes stripped).
fetched_lines() { sed 's/\x1b\[[0-9;]*m//g' "$logs/multihost-agent-c.log" | grep "template fetched and verified" | grep -- "$1"; }
if [ -n "${sb[a]:-}" ]; then
    api POST "/v1/sandboxes/${sb[a]}/exec" "$admin" '{"command":"echo tmplfetch-ok > /var/tmp/tmplfetch.txt && sync"}'
    check "write a marker file in host A's sandbox" answered 200
    if check "snapshot host A's sandbox into template fetched-t" snapshot_a fetched-t; then
        image1=$image
        check "... host C lacks its image" test ! -e "$work/c/data/images/$image1"
        started=$(mh_now_ms)
        if create "$admin" "{\"template\":\"fetched-t\",\"vcpus\":1,\"memory_mb\":256,\"timeout_secs\":600,\"tags\":[\"gpu\"]}"; then
            sb[fetched]=$sandbox
            fetch_create_ms=$(($(mh_now_ms) - started))
            check "a sandbox of host A's template starts on host C" is "$on" "${host[c]}"
            api POST "/v1/sandboxes/$sandbox/exec" "$admin" '{"command":"cat /var/tmp/tmplfetch.txt"}'
            check "... and sees the file written on host A" is "$(field '["stdout"]' | tr -d '\n')" tmplfetch-ok
            check "... host C now holds the verified image" test -e "$work/c/data/images/$image1/current/rootfs.ext4"
            line=$(fetched_lines "$image1" | tail -1)
            fetch_bytes=$(grep -oE 'bytes=[0-9]+' <<<"$line" | head -1 | cut -d= -f2)
            fetch_ms=$(grep -oE 'duration_ms=[0-9]+' <<<"$line" | head -1 | cut -d= -f2)
            check "... agent C logged the fetch (bytes, duration)" test -n "${fetch_bytes:-}"
            started=$(mh_now_ms)
            if create "$admin" "{\"template\":\"fetched-t\",\"vcpus\":1,\"memory_mb\":256,\"timeout_secs\":600,\"tags\":[\"gpu\"]}"; then
                second_create_ms=$(($(mh_now_ms) - started))
                check "a second sandbox of it on host C fetches nothing" is "$(fetched_lines "$image1" | wc -l)" 1
                api DELETE "/v1/sandboxes/$sandbox" "$admin"
            else
                bad "a second sandbox of the fetched template" "$detail"
            fi
            api DELETE "/v1/sandboxes/${sb[fetched]}" "$admin"
            check "destroy the fetched template's sandbox" answered 204
        else
            bad "a sandbox of host A's template starts on host C" "$detail"
        fi
        api DELETE /v1/templates/fetched-t "$admin"
        check "delete the fetched template" answered 204
        check "... it is gone from host A and host C" is \
            "$(ls -d "$work/a/data/images/$image1" "$work/c/data/images/$image1" 2>/dev/null | wc -l)" 0
    fi
    if check "snapshot host A's sandbox into template tampered-t" snapshot_a tampered-t; then
        image2=$image
        # Same size, other bytes (the unused first sector of the ext4 image),
        # after the agent computed its manifest.
        printf 'X' | dd of="$work/a/data/images/$image2/current/rootfs.ext4" bs=1 seek=7 conv=notrunc status=none
        api POST /v1/sandboxes "$admin" "{\"template\":\"tampered-t\",\"vcpus\":1,\"memory_mb\":256,\"timeout_secs\":600,\"tags\":[\"gpu\"]}"
        check "a tampered template is refused on the host that fetches it (503)" answered 503
        check "... naming the mismatch" grep -q "does not match" <<<"$body"
        check "... and host C keeps nothing of it" is \
            "$(ls -a "$work/c/data/images" | grep -cE "$image2|^\.tmp-")" 0
        api GET "/v1/sandboxes" "$admin"
        check "... and no sandbox record of it" is "$(grep -c tampered-t <<<"$body")" 0
        api DELETE /v1/templates/tampered-t "$admin"
        check "delete the tampered template" answered 204
    fi
else
    bad "templates on every host" "no sandbox on host A"
fi

# --- a lost host ---------------------------------------------------------------
dead_secs=${CP_HOST_DEAD_SECS:-6}
deadline=$((dead_secs + 2 + 5))
kill -KILL "${MH_PID[a]}"
killed=$(mh_now_ms)
wait "${MH_PID[a]}" 2>/dev/null
MH_PID[a]=""
if mh_wait_host "${host[a]}" unreachable "$deadline" "$admin" >/dev/null; then
    detect_ms=$(($(mh_now_ms) - killed))
    ok "host A is unreachable ${detect_ms} ms after SIGKILL (deadline ${deadline}s)"
else
    bad "host A becomes unreachable within ${deadline}s" "status $(mh_host_status "${host[a]}" "$admin")"
fi
if [ -n "${sb[a]:-}" ]; then
    # Within the same deadline, counted from the kill.
    left=$((deadline - ($(mh_now_ms) - killed) / 1000))
    check "host A's sandbox is lost (within the deadline)" mh_wait_sandbox "${sb[a]}" lost "$((left > 1 ? left : 1))" "$admin"
    api GET "/v1/sandboxes/${sb[a]}" "$admin"
    check "... with the reason naming the host" grep -q "${host[a]}" <<<"$(field '["reason"]')"
fi
check "hosts B and C stay online" is "$(mh_host_status "${host[b]}" "$admin") $(mh_host_status "${host[c]}" "$admin")" "online online"
started=$(mh_now_ms)
mh_start_agent a
if mh_wait_host "${host[a]}" online 60 "$admin" >/dev/null; then
    back_ms=$(($(mh_now_ms) - started))
    ok "agent A restarted from its token file: host A online again (${back_ms} ms)"
else
    bad "host A online again after the restart" "$(tail -5 "$logs/multihost-agent-a.log")"
fi
if [ -n "${sb[a]:-}" ]; then
    check "host A's sandbox is running again" mh_wait_sandbox "${sb[a]}" running 120 "$admin" &&
        sandbox_back_ms=$((${back_ms:-0} + waited_ms))
    check "exec echo in it after the restart" exec_echo a "$admin"
fi
# Agent A's start-up sweep must have left the other agents' sandboxes alone.
for key in gpu b; do
    [ -n "${sb[$key]:-}" ] || continue
    check "the $key sandbox still answers after agent A's restart" exec_echo "$key" "$(owner_of $key)"
done
check "the other agents' sandbox namespaces survived it" is \
    "$(ip netns list 2>/dev/null | awk '{print $1}' | grep -cE '^wm[bc]-[0-9]+$')" 2

# --- deleting hosts --------------------------------------------------------------
api DELETE "/v1/hosts/${host[c]}" "$admin"
check "deleting host C with a live sandbox is refused" answered 409
check "... with code host_has_sandboxes" is "$(field '["error"]["code"]')" host_has_sandboxes
api DELETE "/v1/hosts/${host[c]}?force=true" "$admin"
check "deleting host C with ?force=true works" answered 200 204
if mh_wait_exit "${MH_PID[c]}" 20; then
    MH_PID[c]=""
    check "agent C exits 3 on its next heartbeat (host_deleted)" is "$exit_status" 3
    check "... saying what happened and what to do" grep -q "delete $work/c/host-token and register again" "$logs/multihost-agent-c.log"
else
    bad "agent C exits after its host was deleted" "still running after 20 s"
fi
[ -n "${sb[gpu]:-}" ] && check "the force-deleted host's sandbox is stopped" mh_wait_sandbox "${sb[gpu]}" stopped 10 "$admin"

# --- tear down through the API ----------------------------------------------------
for id in ${sb[a]:-} ${sb[extra]:-}; do api DELETE "/v1/sandboxes/$id" "$admin"; check "destroy sandbox $id" answered 204 404; done
[ -n "${sb[b]:-}" ] && { api DELETE "/v1/sandboxes/${sb[b]}" "$owner_b"; check "destroy team B's sandbox" answered 204; }
api DELETE "/v1/hosts/${host[a]}" "$admin"
check "delete host A (no sandboxes left)" answered 200 204
api DELETE "/v1/hosts/${host[b]}" "$owner_b"
check "team B's owner deletes its BYOC host" answered 200 204
for x in a b; do
    if mh_wait_exit "${MH_PID[$x]}" 20; then
        MH_PID[$x]=""
        check "agent $x exits 3 once its host is deleted" is "$exit_status" 3
    else
        bad "agent $x exits once its host is deleted"
    fi
done
mh_stop "${MH_PID[cp]}"
MH_PID[cp]=""
for x in a b c; do
    check "agent $x left no sandbox directories" is "$(ls -A "$work/$x/data/sandboxes" 2>/dev/null | wc -l)" 0
done
mh_net_down
check "no namespace, link or QEMU process left" is "$(mh_leftovers | tr '\n' ' ')" ""

echo
echo "multihost figures:"
for x in a b c; do echo "  agent $x start -> online: ${online_ms[$x]:-?} ms"; done
echo "  lost-host detection (SIGKILL -> unreachable): ${detect_ms:-?} ms (CP_HOST_DEAD_SECS=$dead_secs, monitor 1 s)"
echo "  agent A restart -> online: ${back_ms:-?} ms; -> its sandbox running: ${sandbox_back_ms:-?} ms"
echo "  first use of a template on a host that lacks it: fetch ${fetch_bytes:-?} bytes in ${fetch_ms:-?} ms (agent C's log);" \
    "create incl. fetch ${fetch_create_ms:-?} ms, second create ${second_create_ms:-?} ms"
echo "multihost: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
