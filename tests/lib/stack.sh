# A real Wrenn on this host for the suites that drive it from outside
# (sourced, not run): a `wrenn-agent serve` (root; kernel and the `base`
# image in /var/lib/wrenn) and a `wrenn-cp` on a fresh SQLite database,
# with an HTTPS listener for *.wrenn.localhost signed by a throw-away CA
# (deploy/local-tls.sh, WRENN_TLS_SYSTEM=no) and
# WRENN_DOMAIN=wrenn.localhost:<port>. Names must resolve to loopback
# (libnss-myhostname: deploy/setup-host.sh or deploy/local-tls.sh).
#
#   . tests/lib/stack.sh
#   stack_start NAME [OPTION...] [VAR=VALUE...]   # logs in target/test-logs/NAME-*.log
#   stack_account EMAIL       # sets ACCOUNT_TOKEN and ACCOUNT_KEY
#   ...
#   stack_stop                # also in the EXIT trap stack_start sets
#   stack_leftovers           # non-zero when wrn-* namespaces were left
#
# stack_start's options, for suites that need a stack of another shape:
#   --no-tls        no HTTPS listener and no WRENN_DOMAIN (STACK_DOMAIN and
#                   STACK_CA empty; names need not resolve)
#   --no-agent      no agent: the control plane starts with CP_AGENT_URL=""
#                   and no agent secret (hosts register themselves)
#   --db URL        DATABASE_URL (default: a fresh SQLite file, $stack_work/cp.db)
#   --cp-user USER  the control plane runs as USER (setpriv, no capabilities,
#                   umask 022) from a copy of its binary USER can reach
#   --cp-log FILE   the control plane's log, target/test-logs/FILE
#                   (default NAME-cp.log)
#   VAR=VALUE       added to the control plane's environment, after (so
#                   over) the stack's own: CP_MAX_SANDBOXES_PER_TEAM=20
#                   and CP_RATE_LIMIT=off unless a caller says otherwise.
# The EXIT trap is set only where the caller has none of its own; a
# caller's own trap calls stack_stop itself.
#
# After stack_start: STACK_URL (http://127.0.0.1:P), STACK_DOMAIN
# (wrenn.localhost:P, https), STACK_CA (the CA's certificate),
# STACK_AGENT_URL, STACK_AGENT_SECRET, stack_cp_pid, stack_agent_pid,
# stack_work (a directory removed by stack_stop). Binaries come from
# $WRENN_BIN_DIR, else the cargo target dir's debug/. Callers hold
# flock /tmp/wrenn-vm.lock (one agent per machine).

stack_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
stack_logs="$stack_root/target/test-logs"
stack_bin="${WRENN_BIN_DIR:-${CARGO_TARGET_DIR:-$stack_root/target}/debug}"
stack_domain_host=wrenn.localhost
mkdir -p "$stack_logs"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
random_text() { python3 -c "import secrets, sys; print(secrets.token_urlsafe(64)[:int(sys.argv[1])])" "$1"; }
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

wait_health() { # URL PID SECONDS
    for _ in $(seq 1 $(($3 * 10))); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

stop_pid() { # PID: TERM, then KILL after 30 s
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

stack_agent_pid=""
stack_cp_pid=""
stack_work=""
stack_cp_bin_dir=""

stack_stop() {
    stop_pid "$stack_cp_pid"
    stack_cp_pid=""
    stop_pid "$stack_agent_pid"
    stack_agent_pid=""
    [ -z "$stack_work" ] || rm -rf "$stack_work"
    stack_work=""
    [ -z "$stack_cp_bin_dir" ] || rm -rf "$stack_cp_bin_dir"
    stack_cp_bin_dir=""
}

stack_start() { # NAME [OPTION...] [VAR=VALUE...]: non-zero (the reason on stderr) on failure
    local name=$1 answer agent_port cp_port tls_port tls=yes agent=yes db="" cp_user="" cp_log="" cp_bin
    local extra=() cp_env=()
    shift
    while [ $# -gt 0 ]; do
        case $1 in
            --no-tls) tls=no ;;
            --no-agent) agent=no ;;
            --db) db=$2; shift ;;
            --cp-user) cp_user=$2; shift ;;
            --cp-log) cp_log=$2; shift ;;
            [A-Za-z_]*=*) extra+=("$1") ;;
            *) echo "stack_start: unknown option '$1'" >&2; return 2 ;;
        esac
        shift
    done
    cp_log="$stack_logs/${cp_log:-$name-cp.log}"
    if [ "$tls" = yes ]; then
        answer=$(getent hosts "3000-check.$stack_domain_host" || true)
        case $answer in
            127.0.0.1* | ::1*) ;;
            *) echo "3000-check.$stack_domain_host does not resolve to loopback: run deploy/local-tls.sh (or add myhostname to the hosts: line of /etc/nsswitch.conf)" >&2; return 1 ;;
        esac
    fi
    # Namespaces of other runs (an agent killed earlier) are not ours to judge.
    stack_netns_before=$(ip netns list 2>/dev/null | awk '/^wrn-/ { print $1 }' | sort)
    stack_work=$(mktemp -d)
    [ -n "$(trap -p EXIT)" ] || trap stack_stop EXIT
    STACK_CA="" STACK_DOMAIN="" STACK_AGENT_URL="" STACK_AGENT_SECRET=""
    if [ "$tls" = yes ]; then
        WRENN_BUILDER="$name" WRENN_TLS_DIR="$stack_work/tls" WRENN_TLS_SYSTEM=no \
            bash "$stack_root/deploy/local-tls.sh" "$stack_domain_host" root >"$stack_logs/$name-tls.log" 2>&1 ||
            { cat "$stack_logs/$name-tls.log" >&2; echo "deploy/local-tls.sh failed" >&2; return 1; }
        STACK_CA="$stack_work/tls/ca.crt"
        tls_port=$(free_port)
        STACK_DOMAIN="$stack_domain_host:$tls_port"
    fi
    cp_port=$(free_port)
    STACK_URL="http://127.0.0.1:$cp_port"

    if [ "$agent" = yes ]; then
        agent_port=$(free_port)
        STACK_AGENT_SECRET=$(random_text 40)
        STACK_AGENT_URL="http://127.0.0.1:$agent_port"
        AGENT_SECRET=$STACK_AGENT_SECRET AGENT_LISTEN_ADDR="127.0.0.1:$agent_port" \
            "$stack_bin/wrenn-agent" serve >"$stack_logs/$name-agent.log" 2>&1 &
        stack_agent_pid=$!
        wait_health "$STACK_AGENT_URL/health" "$stack_agent_pid" 60 ||
            { tail -20 "$stack_logs/$name-agent.log" >&2; echo "the agent did not start" >&2; return 1; }
        cp_env+=(CP_AGENT_URL="$STACK_AGENT_URL" CP_AGENT_SECRET="$STACK_AGENT_SECRET")
    else
        cp_env+=(CP_AGENT_URL="")
    fi

    cp_env+=(DATABASE_URL="${db:-sqlite://$stack_work/cp.db}" CP_JWT_SECRET="$(random_text 48)"
        CP_LISTEN_ADDR="127.0.0.1:$cp_port" CP_MAX_SANDBOXES_PER_TEAM=20 CP_RATE_LIMIT=off)
    [ "$tls" = no ] || cp_env+=(CP_TLS_LISTEN_ADDR="127.0.0.1:$tls_port" WRENN_DOMAIN="$STACK_DOMAIN"
        CP_TLS_CERT_FILE="$stack_work/tls/$stack_domain_host.crt" CP_TLS_KEY_FILE="$stack_work/tls/$stack_domain_host.key")
    cp_env+=("${extra[@]}")
    if [ -z "$cp_user" ]; then
        env "${cp_env[@]}" "$stack_bin/wrenn-cp" >"$cp_log" 2>&1 &
    else
        # Copied out of the checkout, which USER may not be able to enter
        # (a CI clone in a 0700 directory); root's umask, so the files'
        # modes are the control plane's own doing.
        stack_cp_bin_dir=$(mktemp -d /tmp/wrenn-cp-bin.XXXXXX)
        chmod 0755 "$stack_cp_bin_dir"
        cp_bin="$stack_cp_bin_dir/wrenn-cp"
        install -m 0755 "$stack_bin/wrenn-cp" "$cp_bin" || { echo "cannot copy wrenn-cp for $cp_user" >&2; return 1; }
        (umask 022; exec setpriv --reuid="$cp_user" --regid="$cp_user" --init-groups --inh-caps=-all --no-new-privs -- \
            env "${cp_env[@]}" "$cp_bin") >"$cp_log" 2>&1 &
    fi
    stack_cp_pid=$!
    wait_health "$STACK_URL/health" "$stack_cp_pid" 60 ||
        { tail -20 "$cp_log" >&2; echo "the control plane did not start" >&2; return 1; }
    [ "$tls" = no ] || curl -fsS --cacert "$STACK_CA" -o /dev/null "https://$STACK_DOMAIN/health" ||
        { tail -20 "$cp_log" >&2; echo "https://$STACK_DOMAIN/health did not answer" >&2; return 1; }
}

stack_account() { # EMAIL [KEY-JSON-EXTRA]: signs up; ACCOUNT_TOKEN, ACCOUNT_KEY
    ACCOUNT_TOKEN=$(curl -fsS -H 'Content-Type: application/json' "$STACK_URL/v1/auth/signup" \
        -d "{\"email\":\"$1\",\"password\":\"suite-password-$(random_text 12)\"}" | json_field '["token"]') ||
        { echo "signup of $1 failed" >&2; return 1; }
    ACCOUNT_KEY=$(curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $ACCOUNT_TOKEN" \
        "$STACK_URL/v1/keys" -d "{\"name\":\"suite\"${2:-}}" | json_field '["key"]') ||
        { echo "API key for $1 failed" >&2; return 1; }
}

stack_destroy_sandboxes() { # KEY: DELETE every sandbox of the key's team not stopped
    local ids id
    ids=$(curl -fsS -H "Authorization: Bearer $1" "$STACK_URL/v1/sandboxes?limit=200" |
        python3 -c 'import json, sys; print("\n".join(s["id"] for s in json.load(sys.stdin)["sandboxes"] if s["state"] != "stopped"))') ||
        return 1
    for id in $ids; do
        curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $1" "$STACK_URL/v1/sandboxes/$id" ||
            { echo "cannot destroy sandbox $id" >&2; return 1; }
    done
    echo "destroyed $(echo "$ids" | grep -c .) sandboxes"
}

stack_leftovers() { # after stack_stop: fails when this run left wrn-* namespaces
    local leftover
    leftover=$(comm -13 <(echo "$stack_netns_before") <(ip netns list 2>/dev/null | awk '/^wrn-/ { print $1 }' | sort) | grep -c .)
    [ "$leftover" -eq 0 ] && return 0
    echo "$leftover wrn-* network namespaces left behind" >&2
    ip netns list >&2
    return 1
}

# Restarts keep each process's environment and log (read back from /proc),
# so the control plane comes back on the same database, ports and secrets.
stack_restart_pid() { # PID HEALTH-URL: answers the new pid in STACK_RESTARTED
    local pid=$1 log bin vars
    log=$(readlink "/proc/$pid/fd/1") && bin=$(readlink "/proc/$pid/exe") || return 1
    readarray -d '' vars <"/proc/$pid/environ"
    stop_pid "$pid"
    env -i "${vars[@]}" "$bin" "${@:3}" >>"$log" 2>&1 &
    STACK_RESTARTED=$!
    wait_health "$2" "$STACK_RESTARTED" 60 || { tail -20 "$log" >&2; return 1; }
}

stack_restart_cp() { # the control plane, on the same database
    stack_restart_pid "$stack_cp_pid" "$STACK_URL/health" || { echo "the control plane did not restart" >&2; return 1; }
    stack_cp_pid=$STACK_RESTARTED
}

stack_restart_agent() { # the agent (its sandboxes stay, it recovers them)
    stack_restart_pid "$stack_agent_pid" "$STACK_AGENT_URL/health" serve || { echo "the agent did not restart" >&2; return 1; }
    stack_agent_pid=$STACK_RESTARTED
}
