#!/usr/bin/env bash
# Security check "tenancy" (issue #11, found-items 5, 6 and 7) against a real
# `wrenn-cp` on a fresh SQLite database driving a real `wrenn-agent serve`
# (root; kernel and `base` image in /var/lib/wrenn; the agent runs under
# `flock /tmp/wrenn-vm.lock`):
#   5. a member's API key stops working (401) once they are removed;
#   6. 60 wrong passwords in a row, then the right one: refused with 429 and
#      Retry-After; after the (shortened) lockout the right one works; API
#      answers carry RateLimit-* headers;
#   7. a team and a user can be deleted (their sandboxes destroyed on the
#      host, their keys dead) and stopped sandbox records are purged after
#      the retention period, leaving no wrn-* network namespace behind.
# Prints "tenancy: N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
logs="$root/target/test-logs"
mkdir -p "$logs"

if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "tenancy: must run as root" >&2; echo "tenancy: 0 passed, 1 failed"; exit 1; }
    cargo build -q -p wrenn-agent -p wrenn-cp || { echo "tenancy: 0 passed, 1 failed"; exit 1; }
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

passed=0
failed=0
check() { # NAME CONDITION-RESULT(0/1)
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1" >&2; fi
}

. "$root/tests/lib/stack.sh"
# Short lockouts and retention; the control plane's own rate limits and
# sandbox cap (the RateLimit-* headers are checked).
stack_start tenancy --no-tls CP_RATE_LIMIT=on CP_MAX_SANDBOXES_PER_TEAM=100 \
    CP_LOGIN_LOCKOUT_SECS=5 CP_LOGIN_LOCKOUT_MAX_SECS=5 \
    CP_STOPPED_RETENTION_SECS=1 CP_RETENTION_INTERVAL_SECS=1 ||
    { echo "tenancy: 0 passed, 1 failed"; exit 1; }
cp=$STACK_URL
work=$stack_work

# req METHOD PATH TOKEN [BODY] [TEAM]: prints the status; body in $work/body,
# headers in $work/headers.
req() {
    local args=(-sS -o "$work/body" -D "$work/headers" -w '%{http_code}' -X "$1" "$cp$2")
    [ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
    [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' -d "$4")
    [ -n "${5:-}" ] && args+=(-H "X-Team-Id: $5")
    curl "${args[@]}"
}
field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))$1)" "$work/body"; }
header() { tr -d '\r' <"$work/headers" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1) == h {print $2}'; }
signup() { # EMAIL: prints the token
    req POST /v1/auth/signup "" "{\"email\":\"$1\",\"password\":\"tenancy-password\"}" >/dev/null
    field '["token"]'
}

ada=$(signup ada@wrenn.test)
bob=$(signup bob@wrenn.test)
req POST /v1/teams "$ada" '{"name":"lab"}' >/dev/null
lab=$(field '["id"]')
req POST "/v1/teams/$lab/members" "$ada" '{"email":"bob@wrenn.test","role":"member"}' >/dev/null
bob_id=$(field '["user_id"]')

# --- 5: a removed member's key.
req POST /v1/keys "$bob" '{"name":"bob-ci"}' "$lab" >/dev/null
bob_key=$(field '["key"]')
s=$(req GET /v1/sandboxes "$bob_key"); check "5: member's key works while a member ($s)" "$([ "$s" = 200 ]; echo $?)"
req POST /v1/keys "$ada" '{"name":"deploy","owner":"team"}' "$lab" >/dev/null
team_key=$(field '["key"]')
s=$(req DELETE "/v1/teams/$lab/members/$bob_id" "$ada"); check "5: member removed ($s)" "$([ "$s" = 204 ]; echo $?)"
s=$(req GET /v1/sandboxes "$bob_key"); check "5: removed member's key answers 401 ($s)" "$([ "$s" = 401 ]; echo $?)"
s=$(req GET /v1/sandboxes "$team_key"); check "5: team-owned key still works ($s)" "$([ "$s" = 200 ]; echo $?)"

# --- 6: login lockout and rate-limit headers.
statuses=""
for _ in $(seq 1 60); do
    statuses+="$(req POST /v1/auth/login "" '{"email":"ada@wrenn.test","password":"wrong password"}') "
done
n401=$(echo "$statuses" | tr ' ' '\n' | grep -c '^401$')
n429=$(echo "$statuses" | tr ' ' '\n' | grep -c '^429$')
check "6: 60 wrong passwords: $n401 x 401 then $n429 x 429" "$([ "$n401" = 5 ] && [ "$n429" = 55 ]; echo $?)"
s=$(req POST /v1/auth/login "" '{"email":"ada@wrenn.test","password":"tenancy-password"}')
code=$(field '["error"]["code"]' 2>/dev/null)
wait_s=$(header Retry-After)
check "6: right password while locked: $s $code Retry-After=$wait_s" \
    "$([ "$s" = 429 ] && [ "$code" = too_many_attempts ] && [ -n "$wait_s" ]; echo $?)"
sleep "${wait_s:-5}"
s=$(req POST /v1/auth/login "" '{"email":"ada@wrenn.test","password":"tenancy-password"}')
check "6: right password after the lockout: $s" "$([ "$s" = 200 ]; echo $?)"
req GET /v1/sandboxes "$team_key" >/dev/null
limit=$(header RateLimit-Limit); remaining=$(header RateLimit-Remaining); reset=$(header RateLimit-Reset)
check "6: RateLimit headers ($limit/$remaining/$reset)" "$([ -n "$limit" ] && [ -n "$remaining" ] && [ -n "$reset" ]; echo $?)"

# --- 7: deleting a team with a running sandbox, a user, and the purge.
s=$(req POST /v1/sandboxes "$ada" '{}' "$lab"); lab_box=$(field '["id"]' 2>/dev/null)
check "7: sandbox in the team ($s)" "$([ "$s" = 201 ]; echo $?)"
s=$(req DELETE "/v1/teams/$lab" "$ada"); check "7: team deleted ($s)" "$([ "$s" = 204 ]; echo $?)"
s=$(req DELETE "/v1/teams/$lab" "$ada"); check "7: deleted team is 404 ($s)" "$([ "$s" = 404 ]; echo $?)"
s=$(req GET /v1/sandboxes "$team_key"); check "7: the team's key is dead ($s)" "$([ "$s" = 401 ]; echo $?)"
# No other sandbox runs at this point: no namespace may be left, and no
# process may still name the sandbox (its VM).
netns=$(ip netns list 2>/dev/null | grep -c '^wrn-')
procs=$(pgrep -fc -- "$lab_box")
check "7: the team's VM is gone from the host (netns $netns, processes $procs)" \
    "$([ "$netns" = 0 ] && [ "$procs" = 0 ]; echo $?)"

s=$(req POST /v1/sandboxes "$bob" '{}'); bob_box=$(field '["id"]' 2>/dev/null)
check "7: sandbox of the user ($s)" "$([ "$s" = 201 ]; echo $?)"
req DELETE "/v1/sandboxes/$bob_box" "$bob" >/dev/null
purged=1
for _ in $(seq 1 50); do
    s=$(req GET "/v1/sandboxes/$bob_box" "$bob")
    [ "$s" = 404 ] && { purged=0; break; }
    sleep 0.2
done
check "7: stopped record purged after the retention period" "$purged"
s=$(req POST /v1/sandboxes "$bob" '{}')
s=$(req DELETE "/v1/users/$bob_id" "$bob"); check "7: user deleted themself ($s)" "$([ "$s" = 204 ]; echo $?)"
s=$(req GET /v1/me "$bob"); check "7: deleted user's token is 401 ($s)" "$([ "$s" = 401 ]; echo $?)"
s=$(req POST /v1/auth/login "" '{"email":"bob@wrenn.test","password":"tenancy-password"}')
check "7: deleted user cannot log in ($s)" "$([ "$s" = 401 ]; echo $?)"

stack_stop
check "7: no wrn-* network namespace left" "$(stack_leftovers; echo $?)"

echo "tenancy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
