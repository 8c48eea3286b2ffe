#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to code running in a
# Wrenn microVM through the control plane:
#   1. sets the host up (deploy/setup-host.sh: packages, guest kernel, `base`
#      image; cached after the first run);
#   2. builds wrenn-agent, wrenn-cp and wrenn, installs them in /usr/local/bin;
#   3. creates the secrets and /etc/wrenn/wrenn.env once, and the control
#      plane's user `wrenn` (the control plane runs as it; its database
#      directory and secret are its own, 0700/0600);
#   4. starts the control plane (systemd units where systemd runs, else
#      deploy/wrenn-services.sh) and waits for its /health;
#   5. creates the first user (the platform admin) and an API key for the
#      `wrenn` CLI;
#   6. registers this machine's agent like any other host (docs/hosts.md): a
#      host record `local` and its one-time token, `wrenn-agent serve
#      --register`, credentials kept in the agent's token file; then starts
#      the agent service, which heartbeats from then on;
#   7. creates a `base` sandbox, runs Python in it and kills it;
#   (2 also builds the web dashboard, dashboard/scripts/build.sh, and
#   installs it in /usr/local/share/wrenn/dashboard; the last lines print
#   its URL and the first admin's credentials);
#   8. TLS and names for the e2b SDKs (deploy/local-tls.sh, before step 4):
#      a local CA in the system trust store, a certificate for
#      *.wrenn.localhost, those names resolving to loopback, and
#      WRENN_DOMAIN=wrenn.localhost:8443 with an HTTPS listener on
#      127.0.0.1:8443; prints the variables for Python and Node.
# Safe to re-run: every step keeps what an earlier run made (an agent that
# is registered keeps its token file and is not registered again).
# Non-interactive.
# Environment: WRENN_ADMIN_EMAIL (admin@wrenn.local), WRENN_CONFIG_DIR
# (~/.config/wrenn), WRENN_START_TIMEOUT (90 s per service), CARGO_TARGET_DIR,
# WRENN_TLS_PORT (8443; read only when the settings have no
# CP_TLS_LISTEN_ADDR yet).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
WRENN_BUILDER=quickstart
. "$root/images/lib.sh"
export PATH="$HOME/.cargo/bin:$PATH"

ETC=/etc/wrenn
ENV_FILE=$ETC/wrenn.env
ADMIN_FILE=$ETC/quickstart-admin
BIN_DIR=/usr/local/bin
SERVICES="$BIN_DIR/wrenn-services"
ADMIN_EMAIL=${WRENN_ADMIN_EMAIL:-admin@wrenn.local}
export WRENN_CONFIG_DIR=${WRENN_CONFIG_DIR:-$HOME/.config/wrenn}
# The CLI must use what this script sets up, not a key from the caller's shell.
unset WRENN_API_KEY WRENN_TEAM

[ "$(id -u)" -eq 0 ] || die "quickstart.sh must run as root (it installs packages and services)" "sudo $0"

# ---- 1. host ---------------------------------------------------------------
bash deploy/setup-host.sh

# ---- 2. build and install ---------------------------------------------------
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found (Rust is needed to build Wrenn)" \
        "curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal, then re-run (rust-toolchain.toml picks the version)"
step "building wrenn-agent, wrenn-cp and wrenn (release)"
mkdir -p /var/log/wrenn
run_logged /var/log/wrenn/quickstart-build.log \
    cargo build --release --locked -p wrenn-agent -p wrenn-cp -p wrenn-cli ||
    die "cargo build failed (log: /var/log/wrenn/quickstart-build.log)" "fix the error above and re-run"
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac

# install_if_changed SRC DST MODE: atomic replace (a running binary stays
# intact); prints DST when it changed.
install_if_changed() {
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        return 0
    fi
    install -m "$3" "$1" "$2.new.$$"
    mv -f "$2.new.$$" "$2"
    echo "$2"
}
changed=()
for b in wrenn-agent wrenn-cp wrenn; do
    [ -x "$target/release/$b" ] || die "$target/release/$b missing after the build" "check CARGO_TARGET_DIR and re-run"
    c=$(install_if_changed "$target/release/$b" "$BIN_DIR/$b" 0755)
    [ -z "$c" ] || changed+=("$c")
done
c=$(install_if_changed deploy/wrenn-services.sh "$SERVICES" 0755)
[ -z "$c" ] || changed+=("$c")
# The web dashboard (and the API docs' Redoc): static files wrenn-cp serves
# from CP_DASHBOARD_DIR (its default below). Built with Node and npm;
# dashboard/scripts/build.sh skips the build when nothing changed.
DASHBOARD_DIR=/usr/local/share/wrenn/dashboard
if ! command -v npm >/dev/null 2>&1; then
    step "installing Node.js and npm (Debian packages) for the dashboard build"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm >/tmp/wrenn-apt.log 2>&1 ||
        { tail -n 20 /tmp/wrenn-apt.log >&2; die "apt-get install nodejs npm failed (log: /tmp/wrenn-apt.log)" "install Node.js 20 and npm, then re-run"; }
fi
run_logged /var/log/wrenn/quickstart-dashboard.log bash dashboard/scripts/build.sh "$target/dashboard" ||
    die "the dashboard build failed (log: /var/log/wrenn/quickstart-dashboard.log)" "fix the error above and re-run"
if ! diff -rq "$target/dashboard" "$DASHBOARD_DIR" >/dev/null 2>&1; then
    # A new directory beside the old one, then a swap: the running control
    # plane never serves a half-copied tree.
    mkdir -p "${DASHBOARD_DIR%/*}"
    rm -rf "$DASHBOARD_DIR.new"
    cp -R "$target/dashboard" "$DASHBOARD_DIR.new"
    chmod -R a+rX,go-w "$DASHBOARD_DIR.new"
    rm -rf "$DASHBOARD_DIR.old"
    [ ! -e "$DASHBOARD_DIR" ] || mv "$DASHBOARD_DIR" "$DASHBOARD_DIR.old"
    mv "$DASHBOARD_DIR.new" "$DASHBOARD_DIR"
    rm -rf "$DASHBOARD_DIR.old"
    changed+=("$DASHBOARD_DIR")
fi
if [ ${#changed[@]} -gt 0 ]; then
    step "installed in $BIN_DIR: ${changed[*]##*/}"
else
    step "wrenn-agent, wrenn-cp, wrenn, wrenn-services in $BIN_DIR up to date"
fi

# ---- 3. secrets and settings -------------------------------------------------
# new_secret FILE BYTES: random alphanumeric secret, created once, mode 0600.
new_secret() {
    [ -s "$1" ] && return 0
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    head -c "$2" /dev/urandom | base64 -w0 | tr -d '/+=' >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$1"
    step "created $1"
}
# The control plane runs as its own unprivileged user. /etc/wrenn is 0711:
# it may reach its one secret there, list nothing, read nothing else.
CP_USER=wrenn
CP_DATA=/var/lib/wrenn/cp
ensure_system_user "$CP_USER" "Wrenn control plane"
mkdir -p "$ETC" "$CP_DATA"
chmod 711 "$ETC"
chmod 711 /var/lib/wrenn
new_secret "$ETC/jwt-secret" 48
chown "$CP_USER:$CP_USER" "$ETC/jwt-secret"
chmod 600 "$ETC/jwt-secret"
# Its database directory (a database of an earlier, root-run version too).
chown -R "$CP_USER:$CP_USER" "$CP_DATA"
chmod 700 "$CP_DATA"
find "$CP_DATA" -type f -exec chmod 600 {} +
chmod 700 /var/log/wrenn
find /var/log/wrenn -type f -exec chmod 600 {} +
settings_changed=0
if [ ! -s "$ENV_FILE" ]; then
    tmp=$(mktemp "$ENV_FILE.XXXXXX")
    cat >"$tmp" <<EOF
# Wrenn's services read this file (systemd EnvironmentFile and
# wrenn-services). Written once by deploy/quickstart.sh; edit it and restart:
#   wrenn-services restart
# Every agent variable: .env.example; the control plane's: crates/wrenn-cp.
WRENN_DATA_DIR=/var/lib/wrenn

# wrenn-agent serve: a registered host of the control plane below. Its
# credentials (host token, agent secret) are in AGENT_TOKEN_FILE, written
# by its first \`serve --register\` (kept out of the data directory, so
# that agents started by hand or by tests with AGENT_SECRET still start).
AGENT_LISTEN_ADDR=127.0.0.1:50051
AGENT_CP_URL=http://127.0.0.1:8000
AGENT_TOKEN_FILE=$ETC/host-token
AGENT_LOG=info
# One base sandbox (1 vCPU, 512 MiB) kept restored and idle for creates.
AGENT_WARM_POOL=base:1:512:1

# wrenn-cp
CP_LISTEN_ADDR=127.0.0.1:8000
DATABASE_URL=sqlite:///var/lib/wrenn/cp/wrenn.db
CP_JWT_SECRET_FILE=$ETC/jwt-secret
CP_LOG=info
# This machine's own agent registers at 127.0.0.1 (refused by default).
CP_ALLOW_PRIVATE_HOST_ADDRS=true
EOF
    chmod 600 "$tmp"
    mv "$tmp" "$ENV_FILE"
    settings_changed=1
    step "wrote $ENV_FILE"
elif grep -Eq '^(CP_AGENT_URL|CP_AGENT_SECRET|CP_AGENT_SECRET_FILE|AGENT_SECRET|AGENT_SECRET_FILE)=' "$ENV_FILE"; then
    # Written by an earlier quickstart, when this agent was a static host
    # with a shared secret: it registers like every other host now.
    sed -i -E 's/^(CP_AGENT_URL|CP_AGENT_SECRET|CP_AGENT_SECRET_FILE|AGENT_SECRET|AGENT_SECRET_FILE)=/# replaced by host registration: &/' "$ENV_FILE"
    grep -q '^AGENT_TOKEN_FILE=' "$ENV_FILE" || printf 'AGENT_TOKEN_FILE=%s\n' "$ETC/host-token" >>"$ENV_FILE"
    grep -q '^AGENT_CP_URL=' "$ENV_FILE" || printf 'AGENT_CP_URL=http://%s\n' \
        "$(sed -n 's/^CP_LISTEN_ADDR=//p' "$ENV_FILE" | tail -n1 | sed 's/^0\.0\.0\.0:/127.0.0.1:/')" >>"$ENV_FILE"
    settings_changed=1
    step "settings in $ENV_FILE: the agent registers with the control plane now (shared secret settings commented out)"
else
    step "settings in $ENV_FILE (kept)"
fi
if ! grep -q '^CP_ALLOW_PRIVATE_HOST_ADDRS=' "$ENV_FILE"; then
    # Settings from before host addresses were checked: this machine's own
    # agent registers at loopback.
    printf '# This machine'"'"'s own agent registers at 127.0.0.1 (refused by default).\nCP_ALLOW_PRIVATE_HOST_ADDRS=true\n' >>"$ENV_FILE"
    settings_changed=1
fi

# Guests trust what this host trusts beyond Debian's CAs (a TLS-inspecting
# proxy's, say): the local certificates in one bundle, AGENT_GUEST_CA_FILE
# (docs/security.md). Rebuilt each run; the agent reads it at start.
guest_ca=$ETC/guest-ca.pem
extra_cas=(/usr/local/share/ca-certificates/*.crt)
if [ -e "${extra_cas[0]}" ]; then
    tmp=$(mktemp "$guest_ca.XXXXXX")
    cat "${extra_cas[@]}" >"$tmp"
    chmod 644 "$tmp"
    if cmp -s "$tmp" "$guest_ca"; then rm -f "$tmp"; else mv "$tmp" "$guest_ca"; settings_changed=1; fi
    grep -Eq '^#? *AGENT_GUEST_CA_FILE=' "$ENV_FILE" ||
        { printf '# CA certificates guests trust besides Debian'"'"'s (this host'"'"'s local ones).\nAGENT_GUEST_CA_FILE=%s\n' "$guest_ca" >>"$ENV_FILE"; settings_changed=1; }
fi

# ---- 3b. TLS and names (deploy/local-tls.sh; docs/e2b.md) -------------------
TLS_DIR=$ETC/tls
LOCAL_DOMAIN=wrenn.localhost
WRENN_TLS_DIR=$TLS_DIR bash deploy/local-tls.sh "$LOCAL_DOMAIN" "$CP_USER"
# env_default KEY VALUE: appends KEY=VALUE unless the settings name KEY
# (an operator's own value, commented in or out, is kept).
env_default() {
    grep -Eq "^#? *$1=" "$ENV_FILE" && return 0
    printf '%s=%s\n' "$1" "$2" >>"$ENV_FILE"
    settings_changed=1
}
if ! grep -Eq '^#? *(WRENN_DOMAIN|CP_TLS_CERT_FILE)=' "$ENV_FILE"; then
    printf '\n# HTTPS for the e2b SDKs (deploy/local-tls.sh): *.%s resolves to this\n# machine, the certificate is signed by the local CA in %s.\n' \
        "$LOCAL_DOMAIN" "$TLS_DIR" >>"$ENV_FILE"
fi
env_default CP_TLS_LISTEN_ADDR "127.0.0.1:${WRENN_TLS_PORT:-8443}"
tls_addr=$(sed -n 's/^CP_TLS_LISTEN_ADDR=//p' "$ENV_FILE" | tail -n1)
env_default CP_TLS_CERT_FILE "$TLS_DIR/$LOCAL_DOMAIN.crt"
env_default CP_TLS_KEY_FILE "$TLS_DIR/$LOCAL_DOMAIN.key"
env_default WRENN_DOMAIN "$LOCAL_DOMAIN:${tls_addr##*:}"
domain=$(sed -n 's/^WRENN_DOMAIN=//p' "$ENV_FILE" | tail -n1)

cp_addr=$(sed -n 's/^CP_LISTEN_ADDR=//p' "$ENV_FILE" | tail -n1)
cp_addr=${cp_addr:-127.0.0.1:8000}
cp_addr=${cp_addr/#0.0.0.0:/127.0.0.1:}
API_URL=http://$cp_addr
export WRENN_API_URL=$API_URL
agent_addr=$(sed -n 's/^AGENT_LISTEN_ADDR=//p' "$ENV_FILE" | tail -n1)
agent_addr=${agent_addr:-127.0.0.1:50051}
agent_addr=${agent_addr/#0.0.0.0:/127.0.0.1:}
data_dir=$(sed -n 's/^WRENN_DATA_DIR=//p' "$ENV_FILE" | tail -n1)
token_file=$(sed -n 's/^AGENT_TOKEN_FILE=//p' "$ENV_FILE" | tail -n1)
token_file=${token_file:-${data_dir:-/var/lib/wrenn}/host-token}

# ---- 4. services ------------------------------------------------------------
systemd_running() {
    [ -d /run/systemd/system ] || return 1
    case $(systemctl is-system-running 2>/dev/null || true) in
        running | degraded | starting | initializing) return 0 ;;
    esac
    return 1
}
restart=()
case " ${changed[*]} " in *" $BIN_DIR/wrenn-agent "*) restart+=(agent) ;; esac
case " ${changed[*]} " in *" $BIN_DIR/wrenn-cp "*) restart+=(cp) ;; esac
# A control plane still running as root (started by an earlier version) is
# restarted as its own user.
cp_pid=$(cat /var/lib/wrenn/run/cp.pid 2>/dev/null || true)
if [ -n "$cp_pid" ] && [ "$(stat -c %U "/proc/$cp_pid" 2>/dev/null || true)" = root ]; then
    case " ${restart[*]} " in *" cp "*) ;; *) restart+=(cp) ;; esac
fi
[ "$settings_changed" = 1 ] && restart=(agent cp)
if systemd_running; then
    units_changed=0
    for u in wrenn-agent.service wrenn-cp.service; do
        if [ -n "$(install_if_changed "deploy/systemd/$u" "/etc/systemd/system/$u" 0644)" ]; then
            units_changed=1
        fi
    done
    if [ "$units_changed" = 1 ]; then
        systemctl daemon-reload
        restart=(agent cp)
    fi
    systemctl enable -q wrenn-agent.service wrenn-cp.service ||
        die "systemctl enable wrenn-agent wrenn-cp failed" "systemctl status wrenn-agent wrenn-cp"
    mode="systemd units wrenn-agent.service and wrenn-cp.service"
    stop_hint="systemctl stop wrenn-cp wrenn-agent   (or: wrenn-services stop)"
else
    mode="wrenn-services (no systemd here): pids in /var/lib/wrenn/run, logs in /var/log/wrenn"
    stop_hint="wrenn-services stop"
fi
# An agent that has not registered yet cannot serve: it starts in step 6.
services=(cp)
if [ -s "$token_file" ]; then
    services=(agent cp)
else
    WRENN_ENV_FILE=$ENV_FILE "$SERVICES" stop agent >/dev/null 2>&1 || true
    restart=("${restart[@]/agent/}")
fi
step "starting the services: $mode"
if [ -n "${restart[*]}" ]; then
    step "  restarting what changed: ${restart[*]}"
    # shellcheck disable=SC2068 # the emptied entries must vanish
    WRENN_ENV_FILE=$ENV_FILE "$SERVICES" restart ${restart[@]}
fi
WRENN_ENV_FILE=$ENV_FILE "$SERVICES" start "${services[@]}" ||
    die "the services did not come up (details above)" "fix the error, then re-run $0 (or: wrenn-services start)"

# ---- 5. first user and API key ---------------------------------------------
# field NAME: NAME's value in the admin credentials file.
field() { sed -n "s/^$1=//p" "$ADMIN_FILE" | tail -n1; }
cli_log=$(mktemp)
sandbox=""
admin_dir=""
cleanup() {
    local rc=$?
    if [ -n "$sandbox" ]; then
        echo "[quickstart] killing sandbox $sandbox" >&2
        wrenn sandbox kill "$sandbox" </dev/null >/dev/null 2>&1 ||
            echo "[quickstart] could not kill $sandbox; run: wrenn sandbox kill $sandbox" >&2
    fi
    rm -f "$cli_log"
    [ -z "$admin_dir" ] || rm -rf "$admin_dir"
    exit "$rc"
}
trap cleanup EXIT

config_file=$WRENN_CONFIG_DIR/config.toml
if grep -q '^api_key' "$config_file" 2>/dev/null &&
    wrenn sandbox list --limit 1 </dev/null >/dev/null 2>"$cli_log"; then
    step "reusing the API key in $config_file"
else
    if [ ! -s "$ADMIN_FILE" ]; then
        tmp=$(mktemp "$ADMIN_FILE.XXXXXX")
        printf 'WRENN_ADMIN_EMAIL=%s\nWRENN_ADMIN_PASSWORD=%s\n' \
            "$ADMIN_EMAIL" "$(head -c 24 /dev/urandom | base64 -w0 | tr -d '/+=')" >"$tmp"
        chmod 600 "$tmp"
        mv "$tmp" "$ADMIN_FILE"
        step "created credentials for $ADMIN_EMAIL in $ADMIN_FILE"
    fi
    email=$(field WRENN_ADMIN_EMAIL)
    password=$(field WRENN_ADMIN_PASSWORD)
    { [ -n "$email" ] && [ -n "$password" ]; } ||
        die "$ADMIN_FILE lacks WRENN_ADMIN_EMAIL= or WRENN_ADMIN_PASSWORD=" "fix it, or delete it to sign up a new account"
    # Log in first (a re-run), else sign up (the first run, or one that
    # stopped between writing the file and signing up).
    if printf '%s\n' "$password" | wrenn login --email "$email" --password-stdin >/dev/null 2>"$cli_log"; then
        step "logged in as $email"
    else
        login_error=$(cat "$cli_log")
        if printf '%s\n' "$password" | wrenn signup --email "$email" --name "Wrenn admin" --password-stdin >/dev/null 2>"$cli_log"; then
            step "signed up $email (password in $ADMIN_FILE)"
        else
            printf '  login:  %s\n  signup: %s\n' "$login_error" "$(cat "$cli_log")" >&2
            die "cannot log in or sign up $email at $API_URL (answers above)" \
                "if the account exists with another password, put it in $ADMIN_FILE as WRENN_ADMIN_PASSWORD=...; otherwise check: wrenn-services logs cp"
        fi
    fi
    wrenn keys create quickstart --save </dev/null >/dev/null 2>"$cli_log" ||
        { cat "$cli_log" >&2; die "wrenn keys create failed (answer above)" "check: wrenn-services logs cp"; }
    step "created API key 'quickstart', saved in $config_file"
fi

# ---- 6. this machine's agent, a registered host ------------------------------
# as_admin ARGS...: the CLI with the admin's session, in a throw-away config
# directory (host records are the platform admin's; API keys are not admins).
admin_dir=""
as_admin() { WRENN_CONFIG_DIR=$admin_dir wrenn "$@" </dev/null; }
if [ -s "$token_file" ]; then
    step "agent registered (credentials in $token_file, kept)"
else
    [ -s "$ADMIN_FILE" ] || die "$token_file is missing and so is $ADMIN_FILE (the admin who registers hosts)" \
        "register the agent by hand (docs/hosts.md), or put WRENN_ADMIN_EMAIL= and WRENN_ADMIN_PASSWORD= of a platform admin in $ADMIN_FILE"
    admin_dir=$(mktemp -d)
    field WRENN_ADMIN_PASSWORD | WRENN_CONFIG_DIR=$admin_dir wrenn login --email "$(field WRENN_ADMIN_EMAIL)" --password-stdin >/dev/null 2>"$cli_log" ||
        { cat "$cli_log" >&2; die "cannot log in as the admin in $ADMIN_FILE (answer above)" "check: wrenn-services logs cp"; }
    # A record `local` from an earlier run whose agent lost its token file
    # (or the static host `local` of older versions) is replaced.
    for id in $(as_admin host list 2>/dev/null | awk 'NR > 1 && $2 == "local" { print $1 }'); do
        as_admin host delete "$id" --force >/dev/null 2>"$cli_log" ||
            { cat "$cli_log" >&2; die "cannot delete the stale host record $id (answer above)" "wrenn host delete $id --force"; }
        step "deleted the stale host record $id"
    done
    answer=$(as_admin --json host create local 2>"$cli_log") ||
        { cat "$cli_log" >&2; die "wrenn host create local failed (answer above)" "check: wrenn-services logs cp"; }
    reg_token=$(printf '%s\n' "$answer" | sed -n 's/.*"registration_token": *"\([^"]*\)".*/\1/p' | head -n1)
    [ -n "$reg_token" ] || die "no registration token in the answer of wrenn host create: $answer" "check: wrenn-services logs cp"
    step "created host record local; registering the agent at $agent_addr"
    reg_log=/var/log/wrenn/agent-register.log
    (
        set -a
        . "$ENV_FILE"
        set +a
        exec wrenn-agent serve --register "$reg_token" --address "$agent_addr" --cp-url "$API_URL"
    ) </dev/null >"$reg_log" 2>&1 &
    reg_pid=$!
    registered=0
    for _ in $(seq 1 $((${WRENN_START_TIMEOUT:-90} * 5))); do
        kill -0 "$reg_pid" 2>/dev/null || break
        if [ -s "$token_file" ] && curl -fsS --max-time 2 -o /dev/null "http://$agent_addr/health" 2>/dev/null; then
            registered=1
            break
        fi
        sleep 0.2
    done
    kill -TERM "$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
    rm -rf "$admin_dir"
    admin_dir=""
    [ "$registered" = 1 ] || { tail -n 20 "$reg_log" >&2; die "wrenn-agent --register did not come up (log above: $reg_log)" "fix the error, then re-run $0"; }
    step "agent registered: credentials in $token_file"
fi
WRENN_ENV_FILE=$ENV_FILE "$SERVICES" start agent ||
    die "the agent did not come up (details above)" "fix the error, then re-run $0 (or: wrenn-services start agent)"

# ---- 7. a sandbox -----------------------------------------------------------
step "creating a 'base' sandbox"
# Right after a restart of either service the host may not be online yet
# (its next heartbeat is due): such a refusal is retried for a while.
create_deadline=$(( $(date +%s) + ${WRENN_START_TIMEOUT:-90} ))
until sandbox=$(wrenn sandbox create --template base </dev/null 2>"$cli_log"); do
    grep -qiE 'no host|no_capacity|agent_unavailable' "$cli_log" && [ "$(date +%s)" -lt "$create_deadline" ] || break
    sleep 2
done
[ -n "$sandbox" ] || {
    sandbox=""
    cat "$cli_log" >&2
    WRENN_ENV_FILE=$ENV_FILE "$SERVICES" logs >&2 || true
    die "wrenn sandbox create failed (answer and service logs above)" \
        "wrenn-agent doctor shows what this host offers; then re-run $0"
}
step "sandbox $sandbox running; executing Python in it"
out=$(wrenn exec "$sandbox" -- python3 -c 'print("hello from a microVM")' </dev/null 2>"$cli_log") || {
    cat "$cli_log" >&2
    die "wrenn exec in $sandbox failed (answer above)" "check: wrenn-services logs"
}
printf '%s\n' "$out"
case $out in *"hello from a microVM"*) ;; *) die "unexpected output from the sandbox: $out" "check: wrenn-services logs" ;; esac
wrenn sandbox kill "$sandbox" </dev/null >/dev/null 2>"$cli_log" ||
    { cat "$cli_log" >&2; die "wrenn sandbox kill $sandbox failed" "retry: wrenn sandbox kill $sandbox"; }
step "killed sandbox $sandbox"
sandbox=""

# ---- 8. the e2b SDKs over HTTPS ----------------------------------------------
if [ -n "$domain" ]; then
    step "checking https://$domain/health (the local CA, the name, the HTTPS listener)"
    code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "https://$domain/health" 2>"$cli_log" || true)
    [ "$code" = 200 ] || {
        cat "$cli_log" >&2
        die "https://$domain/health did not answer 200 (got ${code:-nothing})" \
            "check CP_TLS_* and WRENN_DOMAIN in $ENV_FILE, getent hosts api.${domain%%:*}, and: wrenn-services logs cp"
    }
fi

# The first admin's credentials, for the dashboard (kept in ADMIN_FILE, 0600).
if [ -s "$ADMIN_FILE" ]; then
    admin_login="sign in as $(field WRENN_ADMIN_EMAIL), password: $(field WRENN_ADMIN_PASSWORD)"
else
    admin_login="sign in with your account"
fi
cat <<NEXT

Wrenn is running.
  dashboard    $API_URL/        ($admin_login)
  API          $API_URL        (interactive docs: $API_URL/docs, schema: $API_URL/openapi.json)
  CLI key      $config_file    (API key 'quickstart'; account in $ADMIN_FILE)
  settings     $ENV_FILE
  services     $mode

Next steps
  wrenn sandbox create                 start a sandbox, prints its id
  wrenn sandbox list                   your sandboxes
  wrenn exec ID -- python3 -V          run a command (exits with its exit code)
  wrenn shell ID                       interactive shell
  wrenn files put ID ./local /remote   upload; wrenn files get ID /remote [local]
  wrenn sandbox kill ID                destroy it
  wrenn-services status                health of the agent and control plane
  wrenn-services logs                  their last log lines
  $stop_hint
NEXT
[ -n "$domain" ] && cat <<E2B

Use the e2b SDKs (Python, Node) with this Wrenn (README, "Use the E2B SDK with Wrenn"):
  export E2B_DOMAIN=$domain
  export E2B_API_KEY=\$(sed -n 's/^api_key *= *"\(.*\)"/\1/p' $config_file)
  export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt   # Python: the system store, with the local CA
  export NODE_EXTRA_CA_CERTS=$TLS_DIR/ca.crt               # Node: the local CA
  wrenn sandbox url ID 3000             https://3000-ID.$domain, port 3000 of sandbox ID
E2B
exit 0
