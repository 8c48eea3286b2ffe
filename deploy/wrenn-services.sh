#!/usr/bin/env bash
# Runs Wrenn's two host services, `wrenn-agent serve` and `wrenn-cp`, in the
# background and reports on them. Uses the systemd units (wrenn-agent.service,
# wrenn-cp.service) where systemd runs and they are installed; otherwise a
# small supervisor: setsid + nohup, pid files in $WRENN_RUN_DIR, logs in
# $WRENN_LOG_DIR. Both read their settings from $WRENN_ENV_FILE. The agent
# runs as root (network namespaces, nftables, TAP devices; it drops its VMs
# to wrenn-vm); the control plane as the unprivileged $WRENN_CP_USER.
#
#   deploy/wrenn-services.sh start   [agent|cp]...  start what is not running and healthy
#   deploy/wrenn-services.sh stop    [agent|cp]...
#   deploy/wrenn-services.sh restart [agent|cp]...
#   deploy/wrenn-services.sh status  [agent|cp]...  exit 0 only when all are healthy
#   deploy/wrenn-services.sh logs    [agent|cp]...  last lines of each log
#
# Environment (defaults): WRENN_ENV_FILE=/etc/wrenn/wrenn.env,
# WRENN_BIN_DIR=/usr/local/bin, WRENN_RUN_DIR=/var/lib/wrenn/run,
# WRENN_LOG_DIR=/var/log/wrenn, WRENN_START_TIMEOUT=90 (seconds to wait for
# /health), WRENN_SERVICES_MODE=auto|systemd|process, WRENN_CP_USER=wrenn.
set -euo pipefail
# Logs, pid files and whatever the services create: the owner's only.
umask 077

ENV_FILE=${WRENN_ENV_FILE:-/etc/wrenn/wrenn.env}
BIN_DIR=${WRENN_BIN_DIR:-/usr/local/bin}
RUN_DIR=${WRENN_RUN_DIR:-/var/lib/wrenn/run}
LOG_DIR=${WRENN_LOG_DIR:-/var/log/wrenn}
START_TIMEOUT=${WRENN_START_TIMEOUT:-90}
MODE=${WRENN_SERVICES_MODE:-auto}
CP_USER=${WRENN_CP_USER:-wrenn}
me=$(basename "$0")

say() { printf '[services] %s\n' "$*" >&2; }
die() {
    printf '[services] error: %s\n' "$1" >&2
    [ -n "${2:-}" ] && printf '[services] fix: %s\n' "$2" >&2
    exit 1
}

# env_value NAME DEFAULT: NAME's value in the env file, else DEFAULT.
env_value() {
    local v=""
    [ -r "$ENV_FILE" ] && v=$(sed -n "s/^[[:space:]]*$1=//p" "$ENV_FILE" | tail -n1 | tr -d '"'"'")
    printf '%s' "${v:-$2}"
}

binary() { case $1 in agent) echo "$BIN_DIR/wrenn-agent" ;; cp) echo "$BIN_DIR/wrenn-cp" ;; esac; }
# as_user SERVICE: how the service's process drops root before it starts
# (nothing for the agent; setpriv to $CP_USER, no capabilities, for the cp).
as_user() {
    case $1 in
        agent) echo "" ;;
        cp) echo "setpriv --reuid=$CP_USER --regid=$CP_USER --init-groups --inh-caps=-all --no-new-privs --" ;;
    esac
}
args() { case $1 in agent) echo serve ;; cp) echo "" ;; esac; }
unit() { echo "wrenn-$1.service"; }

# health_url SERVICE: http://ADDR/health, with a wildcard address made local.
health_url() {
    local addr
    case $1 in
        agent) addr=$(env_value AGENT_LISTEN_ADDR 127.0.0.1:50051) ;;
        cp) addr=$(env_value CP_LISTEN_ADDR 127.0.0.1:8000) ;;
    esac
    addr=${addr/#0.0.0.0:/127.0.0.1:}
    addr=${addr/#\[::\]:/[::1]:}
    echo "http://$addr/health"
}

healthy() { curl -fsS --max-time 3 -o /dev/null "$(health_url "$1")" 2>/dev/null; }

use_systemd() {
    case $MODE in
        systemd) return 0 ;;
        process) return 1 ;;
    esac
    [ -d /run/systemd/system ] || return 1
    case $(systemctl is-system-running 2>/dev/null || true) in
        running | degraded | starting | initializing) ;;
        *) return 1 ;;
    esac
    [ -f "/etc/systemd/system/$(unit "$1")" ] || [ -f "/lib/systemd/system/$(unit "$1")" ]
}

pidfile() { echo "$RUN_DIR/$1.pid"; }
logfile() { echo "$LOG_DIR/$1.log"; }

# pid SERVICE: the pid of the supervised process when it is alive and still
# runs our binary (a stale pid file after a reboot names some other process).
pid() {
    local f p exe
    f=$(pidfile "$1")
    [ -s "$f" ] || return 1
    p=$(cat "$f")
    [[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null || return 1
    exe=$(readlink "/proc/$p/exe" 2>/dev/null || true)
    exe=${exe% (deleted)}
    [ "$(basename "$exe")" = "$(basename "$(binary "$1")")" ] || return 1
    echo "$p"
}

show_log() {
    if use_systemd "$1"; then
        journalctl -u "$(unit "$1")" -n "${2:-30}" --no-pager >&2 || true
    elif [ -f "$(logfile "$1")" ]; then
        say "last lines of $(logfile "$1"):"
        tail -n "${2:-30}" "$(logfile "$1")" >&2
    else
        say "no log yet at $(logfile "$1")"
    fi
}

# wait_healthy SERVICE [PID]: polls /health until START_TIMEOUT; fails early
# when the supervised process exits.
wait_healthy() {
    local svc=$1 p=${2:-} deadline=$((SECONDS + START_TIMEOUT))
    while ! healthy "$svc"; do
        if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
            show_log "$svc"
            die "$svc exited during start-up (see the log above)" "fix the error it names (settings: $ENV_FILE), then: $me start $svc"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log "$svc"
            die "$svc did not answer $(health_url "$svc") within ${START_TIMEOUT}s" \
                "read the log above; raise WRENN_START_TIMEOUT if it is just slow, then: $me start $svc"
        fi
        sleep 0.5
    done
}

start_one() {
    local svc=$1 bin p
    bin=$(binary "$svc")
    [ -x "$bin" ] || die "$bin not found" "build and install it: deploy/quickstart.sh (or cargo build --release and copy it to $BIN_DIR)"
    [ -r "$ENV_FILE" ] || die "settings file $ENV_FILE not found" "run deploy/quickstart.sh, or set WRENN_ENV_FILE"
    if use_systemd "$svc"; then
        systemctl start "$(unit "$svc")" || { show_log "$svc"; die "systemctl start $(unit "$svc") failed" "systemctl status $(unit "$svc")"; }
        wait_healthy "$svc"
        say "$svc: running under systemd ($(unit "$svc")), healthy at $(health_url "$svc")"
        return
    fi
    if p=$(pid "$svc"); then
        if healthy "$svc"; then
            say "$svc: already running (pid $p), healthy"
            return
        fi
        say "$svc: running (pid $p) but not answering yet; waiting"
        wait_healthy "$svc" "$p"
        say "$svc: healthy (pid $p)"
        return
    fi
    if healthy "$svc"; then
        die "something else already answers $(health_url "$svc") (not started by $me)" \
            "stop that process (systemctl stop $(unit "$svc")?) or change the address in $ENV_FILE"
    fi
    if [ "$svc" = cp ]; then
        getent passwd "$CP_USER" >/dev/null 2>&1 ||
            die "the control plane's user '$CP_USER' does not exist" \
                "run deploy/quickstart.sh (it creates it), or: useradd --system --no-create-home --shell /usr/sbin/nologin $CP_USER"
    fi
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    chmod 700 "$LOG_DIR"
    rm -f "$(pidfile "$svc")"
    printf '=== %s: starting %s %s\n' "$(date -Is)" "$bin" "$(args "$svc")" >>"$(logfile "$svc")"
    # The child writes its own pid, then becomes the service (same pid), in a
    # session of its own so that it outlives this shell and its terminal.
    # Descriptors above 2 inherited from the caller (a lock held by `flock`,
    # a CI runner's pipes) are closed so the daemon does not hold them.
    # shellcheck disable=SC2016
    # The settings file stays root's: it is read here, before the drop.
    setsid nohup bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null; echo $$ >"$1"; set -a; . "$2"; set +a; exec $5 "$3" $4' \
        wrenn-start "$(pidfile "$svc")" "$ENV_FILE" "$bin" "$(args "$svc")" "$(as_user "$svc")" \
        </dev/null >>"$(logfile "$svc")" 2>&1 &
    for _ in $(seq 50); do
        [ -s "$(pidfile "$svc")" ] && break
        sleep 0.1
    done
    p=$(cat "$(pidfile "$svc")" 2>/dev/null || true)
    [ -n "$p" ] || { show_log "$svc"; die "$svc did not start" "read $(logfile "$svc")"; }
    wait_healthy "$svc" "$p"
    say "$svc: started (pid $p), healthy at $(health_url "$svc"); log $(logfile "$svc")"
}

stop_one() {
    local svc=$1 p
    if use_systemd "$svc"; then
        systemctl stop "$(unit "$svc")"
        say "$svc: stopped ($(unit "$svc"))"
        return
    fi
    if ! p=$(pid "$svc"); then
        rm -f "$(pidfile "$svc")"
        say "$svc: not running"
        return
    fi
    kill -TERM "$p"
    # The agent drains requests for up to 30 s; sandboxes keep running.
    for _ in $(seq 450); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then
        say "$svc: still running 45 s after SIGTERM; sending SIGKILL"
        kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$svc")"
    say "$svc: stopped (was pid $p)"
}

status_one() {
    local svc=$1 p how
    if use_systemd "$svc"; then
        how="$(unit "$svc") $(systemctl is-active "$(unit "$svc")" 2>/dev/null || true)"
    elif p=$(pid "$svc"); then
        how="pid $p, log $(logfile "$svc")"
    else
        how="not running"
    fi
    if healthy "$svc"; then
        printf '%-6s healthy at %s (%s)\n' "$svc" "$(health_url "$svc")" "$how"
    else
        printf '%-6s DOWN: %s does not answer (%s)\n' "$svc" "$(health_url "$svc")" "$how"
        return 1
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
services=("$@")
for s in "${services[@]}"; do
    case $s in agent | cp) ;; *) die "unknown service '$s'" "use agent or cp" ;; esac
done
if [ "$cmd" = stop ]; then
    [ ${#services[@]} -gt 0 ] || services=(cp agent) # the control plane first
else
    [ ${#services[@]} -gt 0 ] || services=(agent cp) # the agent first
fi
case $cmd in
    start | stop | restart | logs) [ "$(id -u)" -eq 0 ] || [ "$cmd" = logs ] ||
        die "$me $cmd must run as root (the agent needs network namespaces and nftables)" "sudo $0 $cmd" ;;
esac

rc=0
case $cmd in
    start) for s in "${services[@]}"; do start_one "$s"; done ;;
    stop) for s in "${services[@]}"; do stop_one "$s"; done ;;
    restart)
        if [ ${#services[@]} -gt 1 ]; then
            stop_one cp
            stop_one agent
        else
            stop_one "${services[0]}"
        fi
        for s in "${services[@]}"; do start_one "$s"; done
        ;;
    status) for s in "${services[@]}"; do status_one "$s" || rc=3; done ;;
    logs) for s in "${services[@]}"; do show_log "$s" 40; done ;;
    *)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
exit "$rc"
