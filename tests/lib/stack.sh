# A real Wrenn on this host for the suites that drive it from outside
# (sourced, not run): a `wrenn-agent serve` (root; kernel and the `base`
# image in /var/lib/wrenn) and a `wrenn-cp` on a fresh SQLite database,
# with an HTTPS listener for *.wrenn.localhost signed by a throw-away CA
# (deploy/local-tls.sh, WRENN_TLS_SYSTEM=no) and
# WRENN_DOMAIN=wrenn.localhost:<port>. Names must resolve to loopback
# (libnss-myhostname: deploy/setup-host.sh or deploy/local-tls.sh).
#
#   . tests/lib/stack.sh
#   stack_start NAME          # logs in target/test-logs/NAME-*.log
#   stack_account EMAIL       # sets ACCOUNT_TOKEN and ACCOUNT_KEY
#   ...
#   stack_stop                # also in the EXIT trap stack_start sets
#   stack_leftovers           # non-zero when wrn-* namespaces were left
#
# After stack_start: STACK_URL (http://127.0.0.1:P), STACK_DOMAIN
# (wrenn.localhost:P, https), STACK_CA (the CA's certificate),
# STACK_AGENT_URL, STACK_AGENT_SECRET. Binaries come from
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

stack_stop() {
    stop_pid "$stack_cp_pid"
    stack_cp_pid=""
    stop_pid "$stack_agent_pid"
    stack_agent_pid=""
    [ -z "$stack_work" ] || rm -rf "$stack_work"
    stack_work=""
}

stack_start() { # NAME: returns non-zero (with the reason on stderr) on failure
    local name=$1 answer agent_port cp_port tls_port
    answer=$(getent hosts "3000-check.$stack_domain_host" || true)
    case $answer in
        127.0.0.1* | ::1*) ;;
        *) echo "3000-check.$stack_domain_host does not resolve to loopback: run deploy/local-tls.sh (or add myhostname to the hosts: line of /etc/nsswitch.conf)" >&2; return 1 ;;
    esac
    # Namespaces of other runs (an agent killed earlier) are not ours to judge.
    stack_netns_before=$(ip netns list 2>/dev/null | awk '/^wrn-/ { print $1 }' | sort)
    stack_work=$(mktemp -d)
    trap stack_stop EXIT
    WRENN_BUILDER="$name" WRENN_TLS_DIR="$stack_work/tls" WRENN_TLS_SYSTEM=no \
        bash "$stack_root/deploy/local-tls.sh" "$stack_domain_host" root >"$stack_logs/$name-tls.log" 2>&1 ||
        { cat "$stack_logs/$name-tls.log" >&2; echo "deploy/local-tls.sh failed" >&2; return 1; }
    STACK_CA="$stack_work/tls/ca.crt"
    agent_port=$(free_port)
    cp_port=$(free_port)
    tls_port=$(free_port)
    STACK_AGENT_SECRET=$(random_text 40)
    STACK_AGENT_URL="http://127.0.0.1:$agent_port"
    STACK_URL="http://127.0.0.1:$cp_port"
    STACK_DOMAIN="$stack_domain_host:$tls_port"

    AGENT_SECRET=$STACK_AGENT_SECRET AGENT_LISTEN_ADDR="127.0.0.1:$agent_port" \
        "$stack_bin/wrenn-agent" serve >"$stack_logs/$name-agent.log" 2>&1 &
    stack_agent_pid=$!
    wait_health "$STACK_AGENT_URL/health" "$stack_agent_pid" 60 ||
        { tail -20 "$stack_logs/$name-agent.log" >&2; echo "the agent did not start" >&2; return 1; }

    DATABASE_URL="sqlite://$stack_work/cp.db" CP_JWT_SECRET=$(random_text 48) \
        CP_LISTEN_ADDR="127.0.0.1:$cp_port" CP_AGENT_URL="$STACK_AGENT_URL" \
        CP_AGENT_SECRET=$STACK_AGENT_SECRET CP_MAX_SANDBOXES_PER_TEAM=20 CP_RATE_LIMIT=off \
        CP_TLS_LISTEN_ADDR="127.0.0.1:$tls_port" WRENN_DOMAIN="$STACK_DOMAIN" \
        CP_TLS_CERT_FILE="$stack_work/tls/$stack_domain_host.crt" CP_TLS_KEY_FILE="$stack_work/tls/$stack_domain_host.key" \
        "$stack_bin/wrenn-cp" >"$stack_logs/$name-cp.log" 2>&1 &
    stack_cp_pid=$!
    wait_health "$STACK_URL/health" "$stack_cp_pid" 60 ||
        { tail -20 "$stack_logs/$name-cp.log" >&2; echo "the control plane did not start" >&2; return 1; }
    curl -fsS --cacert "$STACK_CA" -o /dev/null "https://$STACK_DOMAIN/health" ||
        { tail -20 "$stack_logs/$name-cp.log" >&2; echo "https://$STACK_DOMAIN/health did not answer" >&2; return 1; }
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
