#!/usr/bin/env bash
# Pools and metering with real VMs (issue #14's acceptance): a team on a
# one-sandbox plan creates, pauses, resumes and kills a sandbox over a few
# seconds, with the control plane and then the agent restarted in the
# middle; the ledger's running and paused seconds match the recorded
# transitions within one second, and a create past the pool is 429. The
# sandbox spins the CPU for 2 s after the agent restart: its guest CPU
# seconds are at least 1 and at most its running seconds × vCPUs, and an
# idle sandbox's afterwards far less.
#   tests/pools/run.sh        (root; takes flock /tmp/wrenn-vm.lock)
# Prints `pools: N passed, M failed`. WRENN_BIN_DIR: prebuilt binaries.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${WRENN_VM_LOCKED:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "pools: must run as root"; echo "pools: 0 passed, 1 failed"; exit 1; }
    if [ -z "${WRENN_BIN_DIR:-}" ]; then
        cargo build -q -p wrenn-agent -p wrenn-cp || { echo "pools: 0 passed, 1 failed"; exit 1; }
    fi
    WRENN_VM_LOCKED=1 exec flock /tmp/wrenn-vm.lock "$0" "$@"
fi

passed=0 failed=0
check() { # NAME COMMAND...
    if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
finish() {
    echo "pools: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

. tests/lib/stack.sh
stack_start pools || { failed=1; finish; }
stack_account admin@pools.test || { failed=1; finish; }
token=$ACCOUNT_TOKEN key=$ACCOUNT_KEY
answer=/tmp/pools-answer.$$
api() { # METHOD PATH [BODY]: the status in $code, the body in $answer
    code=$(curl -sS -o "$answer" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' "$STACK_URL$2" ${3:+-d "$3"})
}
admin() {
    curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$STACK_URL$2" ${3:+-d "$3"}
}

api GET /v1/pool
team=$(json_field '["team_id"]' <"$answer")
admin PUT /v1/admin/plans/one '{"vcpus":64,"memory_gib":64,"storage_gib":1000,"max_running":1,"max_paused":5}' >/dev/null &&
    admin PUT "/v1/admin/teams/$team/plan" '{"plan":"one"}' >/dev/null || { failed=1; finish; }

api POST /v1/sandboxes '{"timeout_secs":600}'
check "create in the pool" [ "$code" = 201 ]
id=$(json_field '["id"]' <"$answer")
api POST /v1/sandboxes '{}'
check "create past the pool is 429 pool_exhausted" \
    bash -c "[ $code = 429 ] && grep -q pool_exhausted $answer && grep -q 'running sandboxes: 1 in use of 1' $answer"
sleep 2
api POST "/v1/sandboxes/$id/pause"
check "pause" [ "$code" = 200 ]
sleep 1
check "control plane restart" stack_restart_cp
sleep 1
api POST "/v1/sandboxes/$id/resume"
check "resume after the restart" [ "$code" = 200 ]
sleep 2
check "agent restart" stack_restart_agent
sleep 2
api GET "/v1/sandboxes/$id"
state=$(json_field '["state"]' <"$answer")
check "still running after the agent restart (state $state)" [ "$state" = running ]
api POST "/v1/sandboxes/$id/exec" '{"command":"end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done","timeout_secs":30}'
check "a CPU-bound command for about 2 s" [ "$code" = 200 ]
api DELETE "/v1/sandboxes/$id"
check "kill" [ "$code" = 204 ]
api POST /v1/sandboxes '{"timeout_secs":600}'
check "create an idle sandbox" [ "$code" = 201 ]
idle=$(json_field '["id"]' <"$answer")
sleep 3
api DELETE "/v1/sandboxes/$idle"
check "kill the idle sandbox" [ "$code" = 204 ]

# The recorded transitions (the database) against the ledger (the API).
export_file=/tmp/pools-export.$$
api GET "/v1/usage/export?format=json"
cp "$answer" "$export_file"
compare() {
    python3 - "$stack_work/cp.db" "$id" "$export_file" <<'PY'
import json, sqlite3, sys
from datetime import datetime
db, sid, export = sys.argv[1:]
rows = sqlite3.connect(db).execute(
    "SELECT at, to_state FROM sandbox_events WHERE sandbox_id = ? ORDER BY at, id", (sid,)).fetchall()
want = {"running": 0, "paused": 0}
for (at, state), (nxt, _) in zip(rows, rows[1:]):
    if state in want:
        want[state] += nxt - at
got = {"running": 0, "paused": 0}
for line in open(export):
    line = line.strip()
    if not line:
        continue
    i = json.loads(line)
    if i.get("sandbox_id") != sid:
        continue
    phase = i["phase"]
    if phase not in got or not i.get("ended_at"):
        continue
    ms = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000
    got[phase] += ms(i["ended_at"]) - ms(i["started_at"])
print("transitions", want, "ledger", got, file=sys.stderr)
ok = want["running"] > 0 and want["paused"] > 0
sys.exit(0 if ok and all(abs(want[p] - got[p]) <= 1000 for p in want) else 1)
PY
}
check "ledger seconds match the transitions within 1 s" compare
guest_cpu() {
    python3 - "$id" "$idle" "$export_file" <<'PY'
import json, sys
from datetime import datetime
busy, idle, export = sys.argv[1:]
ms = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000
cpu = {busy: 0.0, idle: 0.0}
cap = {busy: 0.0, idle: 0.0}
for line in open(export):
    line = line.strip()
    if not line:
        continue
    i = json.loads(line)
    sid = i.get("sandbox_id")
    if sid not in cpu or i["phase"] != "running":
        continue
    cpu[sid] += i.get("guest_cpu_seconds") or 0.0
    cap[sid] += (ms(i["ended_at"]) - ms(i["started_at"])) / 1000 * i["vcpus"]
print(f"guest cpu busy {cpu[busy]:.3f} s (running x vcpus {cap[busy]:.3f} s), "
      f"idle {cpu[idle]:.3f} s (running x vcpus {cap[idle]:.3f} s)", file=sys.stderr)
ok = 1.0 <= cpu[busy] <= cap[busy] and cpu[idle] < cpu[busy] / 2
sys.exit(0 if ok else 1)
PY
}
check "guest CPU seconds: busy >= 1 and <= running x vCPUs, idle far less" guest_cpu
stack_stop
check "no namespaces left" stack_leftovers
rm -f /tmp/pools-*.$$
finish
