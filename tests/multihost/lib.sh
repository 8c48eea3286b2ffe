# Helpers shared by tests/multihost/run.sh and bench/suites/hosts: a control
# plane in the root network namespace and wrenn-agents in namespaces
# wmh-<x>, each joined to the root namespace by a veth pair.
#
#   root namespace                         namespace wmh-<x> (x = a, b, c)
#   wmh-<x>-h 10.251.<i>.1/30  ========  eth0 10.251.<i>.2/30  <- agent :50051
#
# The control plane listens on 10.251.1.1 (the root end of wmh-a's pair):
# a local address of the root namespace, so every namespace reaches it
# through its default route (no dummy device: not every kernel has one).
#
# Each agent has its own WRENN_DATA_DIR (kernels/ symlinked to /var/lib/wrenn,
# images/ its own directory of links to the built-in templates there),
# AGENT_NETNS_PREFIX wm<x>- and AGENT_TOKEN_FILE.
# Callers set: work (temp dir), bin (directory of the binaries), logs.
# Needs root; run it under `flock /tmp/wrenn-vm.lock`.

MH_CP_ADDR=10.251.1.1
MH_AGENT_PORT=50051
MH_DATA_SRC=${WRENN_DATA_SRC:-/var/lib/wrenn}
declare -A MH_PID=()
# MH_ENV[x]: extra VAR=value words for agent x (no spaces inside values).
declare -A MH_ENV=()

mh_index() { case $1 in a) echo 1 ;; b) echo 2 ;; c) echo 3 ;; d) echo 4 ;; *) return 1 ;; esac; }
mh_agent_addr() { echo "10.251.$(mh_index "$1").2:$MH_AGENT_PORT"; }
mh_now_ms() { date +%s%3N; }
# mh_alive PID: running (a child that exited stays a zombie until reaped,
# and `kill -0` still succeeds on zombies).
mh_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat:0:1}" != Z ]
}
mh_free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'; }
mh_random() { python3 -c "import secrets, sys; print(secrets.token_urlsafe(64)[:int(sys.argv[1])])" "$1"; }

# mh_net_up X...: one namespace per agent with its veth pair and a default
# route to the root namespace. X must include a (the control plane's address).
mh_net_up() {
    local x i
    for x in "$@"; do
        i=$(mh_index "$x")
        ip netns add "wmh-$x" &&
            ip link add "wmh-$x-h" type veth peer name eth0 netns "wmh-$x" &&
            ip addr add "10.251.$i.1/30" dev "wmh-$x-h" &&
            ip link set "wmh-$x-h" up &&
            ip -n "wmh-$x" link set lo up &&
            ip -n "wmh-$x" addr add "10.251.$i.2/30" dev eth0 &&
            ip -n "wmh-$x" link set eth0 up &&
            ip -n "wmh-$x" route add default via "10.251.$i.1" &&
            # Agents fetch templates from each other: forward between the
            # agents' links only (the flag goes with the link).
            echo 1 >"/proc/sys/net/ipv4/conf/wmh-$x-h/forwarding" || return 1
        # images/ is each agent's own (team templates made or fetched by
        # one host must not appear on the others); the built-ins in it
        # are links to the shared ones.
        mkdir -p "$work/$x/data/sandboxes" "$work/$x/data/images" &&
            ln -s "$MH_DATA_SRC/kernels" "$work/$x/data/kernels" || return 1
        local t
        for t in "$MH_DATA_SRC"/images/*; do
            [ -d "$t" ] && { ln -s "$t" "$work/$x/data/images/" || return 1; }
        done
    done
}

# mh_net_down: removes every wmh-* namespace and link, and the sandbox
# namespaces of the agents' prefixes (wma-*, wmb-*, ...), whoever made them.
mh_net_down() {
    local ns link
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(wmh-|wm[a-d]-[0-9]+$)'); do
        ip netns del "$ns" 2>/dev/null
    done
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^wmh-'); do
        ip link del "$link" 2>/dev/null
    done
}

# mh_vm_pids: QEMU processes whose command line names a path under $work.
mh_vm_pids() {
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q "qemu-system.*$work/" && echo "$pid"
    done
}

# mh_kill_vms: VMs outlive their agent by design; kills ours (by pid).
mh_kill_vms() {
    local pid
    for pid in $(mh_vm_pids); do kill -KILL "$pid" 2>/dev/null; done
}

# mh_leftovers: what mh_net_down and the agents should have removed.
mh_leftovers() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(wmh-|wm[a-d]-)'
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^wmh-'
    mh_vm_pids | sed 's/^/qemu pid /'
}

# mh_start_cp: the control plane on $MH_CP_ADDR with fast host monitoring.
# Sets cp_url and MH_PID[cp].
mh_start_cp() {
    local port
    port=$(mh_free_port)
    cp_url="http://$MH_CP_ADDR:$port"
    DATABASE_URL="sqlite://$work/cp.db" CP_JWT_SECRET=$(mh_random 48) \
        CP_LISTEN_ADDR="$MH_CP_ADDR:$port" CP_AGENT_URL="" CP_ALLOW_PRIVATE_HOST_ADDRS=true \
        CP_HOST_DEAD_SECS=${CP_HOST_DEAD_SECS:-6} \
        CP_HOST_MONITOR_INTERVAL_SECS=${CP_HOST_MONITOR_INTERVAL_SECS:-1} \
        CP_RECONCILE_INTERVAL_SECS=2 CP_LOG=${CP_LOG:-info} \
        "$bin/wrenn-cp" >>"$logs/multihost-cp.log" 2>&1 &
    MH_PID[cp]=$!
    mh_wait_http "$cp_url/health" "${MH_PID[cp]}" 60
}

# mh_wait_http URL PID SECONDS
mh_wait_http() {
    local _
    for _ in $(seq 1 $(($3 * 10))); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        mh_alive "$2" || return 1
        sleep 0.1
    done
    return 1
}

# mh_start_agent X [ARGS...]: `wrenn-agent serve ARGS` in namespace wmh-X,
# with MH_ENV[X] added to its environment.
# Sets MH_PID[X]; output goes to $logs/multihost-agent-X.log.
# VM confinement is off: `ip netns exec` mounts a fresh /sys for the
# namespace, without the cgroup hierarchies the agent puts each QEMU in
# (the agent and security suites test confinement).
mh_start_agent() {
    local x=$1
    shift
    ip netns exec "wmh-$x" env WRENN_DATA_DIR="$work/$x/data" \
        AGENT_LISTEN_ADDR="$(mh_agent_addr "$x")" \
        AGENT_TOKEN_FILE="$work/$x/host-token" \
        AGENT_NETNS_PREFIX="wm$x-" AGENT_HEARTBEAT_SECS=${AGENT_HEARTBEAT_SECS:-2} \
        AGENT_ACCEL=${AGENT_ACCEL:-auto} AGENT_BACKEND=qemu AGENT_MAX_SLOTS=16 \
        AGENT_SECRET= AGENT_SECRET_FILE= AGENT_LOG=${AGENT_LOG:-info} \
        AGENT_VM_CONFINEMENT=off \
        ${MH_ENV[$x]:-} "$bin/wrenn-agent" serve "$@" >>"$logs/multihost-agent-$x.log" 2>&1 &
    MH_PID[$x]=$!
}

# mh_tls_cert X: a self-signed certificate for agent X's address in
# $work/X/{cert,key}.pem; prints its SHA-256 as the control plane pins it.
mh_tls_cert() {
    local ip
    ip=$(mh_agent_addr "$1")
    ip=${ip%:*}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=wrenn-agent-$1" -addext "subjectAltName=IP:$ip" \
        -keyout "$work/$1/key.pem" -out "$work/$1/cert.pem" 2>/dev/null || return 1
    openssl x509 -in "$work/$1/cert.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}

# mh_stop PID: SIGTERM, then SIGKILL after 30 s; reaps it.
mh_stop() {
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
    local _
    for _ in $(seq 1 300); do mh_alive "$1" || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# api METHOD PATH CREDENTIAL [JSON]: sets $status and $body.
api() {
    local out args=(-sS -X "$1" -o "$work/api-body" -w '%{http_code}' --max-time 180)
    [ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
    [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data "$4")
    out=$(curl "${args[@]}" "$cp_url$2" 2>"$work/api-err") || out=000
    status=$out
    body=$(cat "$work/api-body" 2>/dev/null)
    rm -f "$work/api-body"
}

# field EXPR: a field of $body, e.g. field '["host"]["id"]'.
field() { python3 -c "import json, sys; v = json.loads(sys.argv[1])$1; print('' if v is None else v)" "$body" 2>/dev/null; }

# mh_signup EMAIL: sets $token (user JWT) and $team (personal team id).
mh_signup() {
    api POST /v1/auth/signup "" "{\"email\":\"$1\",\"password\":\"multihost-password-1\"}"
    [ "$status" = 201 ] || return 1
    token=$(field '["token"]')
    team=$(field '["team"]["id"]')
}

# mh_create_host CREDENTIAL JSON: sets $host_id and $reg_token.
mh_create_host() {
    api POST /v1/hosts "$1" "$2"
    [ "$status" = 201 ] || return 1
    host_id=$(field '["host"]["id"]')
    reg_token=$(field '["registration_token"]')
}

# mh_host_status HOST_ID CREDENTIAL: prints the host's status.
mh_host_status() {
    api GET "/v1/hosts/$1" "$2"
    [ "$status" = 200 ] && field '["status"]'
}

# mh_wait_host HOST_ID STATUS SECONDS CREDENTIAL: polls every 50 ms; prints
# the milliseconds it took, fails after SECONDS.
mh_wait_host() {
    local start now
    start=$(mh_now_ms)
    while :; do
        [ "$(mh_host_status "$1" "$4")" = "$2" ] && { echo $(($(mh_now_ms) - start)); return 0; }
        now=$(mh_now_ms)
        [ $((now - start)) -lt $(($3 * 1000)) ] || return 1
        sleep 0.05
    done
}

# mh_wait_sandbox ID STATE SECONDS CREDENTIAL: polls every 200 ms; sets
# $waited_ms, or $detail when the state never came.
mh_wait_sandbox() {
    local start state
    start=$(mh_now_ms)
    while :; do
        api GET "/v1/sandboxes/$1" "$4"
        state=$(field '["state"]')
        [ "$status" = 200 ] && [ "$state" = "$2" ] && { waited_ms=$(($(mh_now_ms) - start)); return 0; }
        [ $(($(mh_now_ms) - start)) -lt $(($3 * 1000)) ] ||
            { detail="still '$state' after $3 s (HTTP $status)"; return 1; }
        sleep 0.2
    done
}

# mh_wait_exit PID SECONDS: waits for the child to end and sets
# $exit_status (not in a subshell: only the parent can reap it).
mh_wait_exit() {
    local _
    exit_status=""
    for _ in $(seq 1 $(($2 * 10))); do
        if ! mh_alive "$1"; then
            wait "$1" 2>/dev/null
            exit_status=$?
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# median N...: prints the median of the numbers.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
