#!/usr/bin/env python3
"""Crash test of the create, pause, resume, template-snapshot and destroy
paths (issue 11, "No orphaned work"), driven by tests/chaos/run.sh.

A real `wrenn-agent serve` (QEMU, its own data directory and namespace
prefix) and a real `wrenn-cp` (SQLite) run on this host. Each round starts
one operation through the REST API, kills the control plane or the agent
with SIGKILL at a random moment of it, restarts what it killed, waits for
reconciliation, and then checks that the control plane's records, the
agent's records and the host agree:

- no record is left `pending` or `starting`; every `running`/`paused`
  record is the agent's sandbox in the same state, and the agent keeps no
  sandbox without such a record;
- one QEMU process, one `wch-*` namespace, one `wrn-v*` veth, one nftables
  slot chain and map element per running sandbox, none else;
- sandbox directories are exactly the agent's sandboxes, a memory snapshot
  only in paused ones; template images and template memory snapshots are
  exactly the team templates the control plane records, no staging left;
- no sandbox the user was told is running (a 2xx create or resume) is gone,
  and every running one executes a command.

Anything present that should not be is a leak; a sandbox the user was told
about that is not where it should be is lost. Prints the interruptions per
operation kind, `leaks: N`, `lost: N` and `chaos: N passed, M failed`.

Environment: CHAOS_SEED (random), CHAOS_ROUNDS (10).
"""
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

# Templates the agent snapshots at start-up without being asked
# (crates/wrenn-agent/src/sandbox/snapshot.rs, BUILTIN_TEMPLATES).
BUILTIN_TEMPLATES = ("base",)

KINDS = ["create", "pause", "resume", "snapshot", "destroy"]
# How long after the request the kill may land (seconds, on TCG).
WINDOW = {"create": 4.0, "pause": 2.5, "resume": 2.5, "snapshot": 4.0, "destroy": 1.5}
START_TIMEOUT_SECS = 12
SETTLE_SECS = 90
MAX_LIVE = 3
NETNS_PREFIX = "wch-"
TRANSITIONAL = {"pending", "starting"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(f"chaos: {msg}", flush=True)


class Daemon:
    """One child process, restartable, killed with SIGKILL on demand."""

    def __init__(self, name, argv, env, logfile):
        self.name, self.argv, self.env, self.logfile = name, argv, env, logfile
        self.proc = None

    def start(self):
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out)
        out.close()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def http(method, url, headers=None, body=None, timeout=180):
    """(status, parsed JSON or text); status 0 when no answer came."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    except (urllib.error.URLError, OSError, ConnectionError):
        return 0, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


class Stack:
    def __init__(self, bin_dir, work, logs):
        self.work = work
        self.data = os.path.join(work, "data")
        os.makedirs(os.path.join(self.data, "sandboxes"))
        os.makedirs(os.path.join(self.data, "images"))
        src = os.environ.get("WRENN_DATA_SRC", "/var/lib/wrenn")
        os.symlink(os.path.join(src, "kernels"), os.path.join(self.data, "kernels"))
        os.symlink(os.path.join(src, "images", "base"), os.path.join(self.data, "images", "base"))
        self.secret = secrets.token_urlsafe(32)
        self.agent_url = f"http://127.0.0.1:{free_port()}"
        self.cp_url = f"http://127.0.0.1:{free_port()}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "CP_"))}
        agent_env = dict(base, WRENN_DATA_DIR=self.data, AGENT_SECRET=self.secret,
                         AGENT_LISTEN_ADDR=self.agent_url[len("http://"):],
                         AGENT_NETNS_PREFIX=NETNS_PREFIX, AGENT_BACKEND="qemu",
                         AGENT_LOG="info")
        cp_env = dict(base, DATABASE_URL=f"sqlite://{work}/cp.db",
                      CP_JWT_SECRET=secrets.token_urlsafe(48),
                      CP_LISTEN_ADDR=self.cp_url[len("http://"):],
                      CP_AGENT_URL=self.agent_url, CP_AGENT_SECRET=self.secret,
                      CP_RECONCILE_INTERVAL_SECS="1",
                      CP_SANDBOX_START_TIMEOUT_SECS=str(START_TIMEOUT_SECS),
                      CP_MAX_SANDBOXES_PER_TEAM="20", CP_LOG="info")
        self.agent = Daemon("agent", [os.path.join(bin_dir, "wrenn-agent"), "serve"], agent_env,
                            os.path.join(logs, "chaos-agent.log"))
        self.cp = Daemon("cp", [os.path.join(bin_dir, "wrenn-cp")], cp_env,
                         os.path.join(logs, "chaos-cp.log"))
        self.key = None

    def wait_health(self, daemon, url, seconds=120):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if http("GET", f"{url}/health", timeout=2)[0] == 200:
                return
            if not daemon.alive():
                raise RuntimeError(f"{daemon.name} exited; see {daemon.logfile}")
            time.sleep(0.1)
        raise RuntimeError(f"{daemon.name} did not become healthy")

    def start_agent(self):
        self.agent.start()
        self.wait_health(self.agent, self.agent_url)

    def start_cp(self):
        self.cp.start()
        self.wait_health(self.cp, self.cp_url)

    def restart(self, which):
        if which == "agent":
            self.start_agent()
        else:
            self.start_cp()

    def kill(self, which):
        (self.agent if which == "agent" else self.cp).kill9()

    def login(self):
        status, body = self.api("POST", "/v1/auth/signup",
                                {"email": "chaos@wrenn.test", "password": "chaos-password-1"}, auth=False)
        assert status == 201, (status, body)
        token = body["token"]
        status, body = http("POST", f"{self.cp_url}/v1/keys",
                            {"Authorization": f"Bearer {token}"}, {"name": "chaos"})
        assert status in (200, 201), (status, body)
        self.key = body["key"]

    def api(self, method, path, body=None, auth=True, timeout=180):
        headers = {"Authorization": f"Bearer {self.key}"} if auth else {}
        return http(method, f"{self.cp_url}{path}", headers, body, timeout)

    def agent_rpc(self, method, body=None):
        return http("POST", f"{self.agent_url}/wrenn.agent.v1.AgentService/{method}",
                    {"Authorization": f"Bearer {self.secret}"}, body or {}, timeout=30)


# ---------------------------------------------------------------- observing

def cp_sandboxes(stack):
    status, body = stack.api("GET", "/v1/sandboxes?limit=200", timeout=30)
    if status != 200:
        return None
    return {s["id"]: s["state"] for s in body["sandboxes"]}


def cp_templates(stack):
    status, body = stack.api("GET", "/v1/templates", timeout=30)
    if status != 200:
        return None
    return [t for t in body["templates"] if not t["builtin"]]


def agent_sandboxes(stack):
    status, body = stack.agent_rpc("ListSandboxes")
    if status != 200:
        return None
    out = {}
    for s in body.get("sandboxes", []):
        state = s.get("state", "SANDBOX_STATE_UNSPECIFIED")
        out[s["id"]] = state.replace("SANDBOX_STATE_", "").lower()
    return out


def qemu_pids(data):
    needle = f"{data}/"
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        zombie = stat.rsplit(")", 1)[-1].strip().startswith("Z")
        if not zombie and "qemu-system" in cmd and needle in cmd:
            pids.append(int(pid))
    return pids


def lines(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return []


def host_view(data):
    netns = [l.split()[0] for l in lines(["ip", "netns", "list"]) if l.startswith(NETNS_PREFIX)]
    links = []
    for l in lines(["ip", "-o", "link", "show"]):
        parts = l.split(": ")
        if len(parts) > 1:
            name = parts[1].split("@")[0]
            if name.startswith("wrn-v"):
                links.append(name)
    chains, elements = [], 0
    try:
        out = subprocess.run(["nft", "-j", "list", "table", "inet", "wrenn"],
                             capture_output=True, text=True, timeout=30).stdout
        for item in json.loads(out or '{"nftables": []}').get("nftables", []):
            if "chain" in item and item["chain"]["name"].startswith("slot-"):
                chains.append(item["chain"]["name"])
            if "map" in item and item["map"]["name"] == "slot_policy":
                elements = len(item["map"].get("elem", []))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    sandboxes = os.path.join(data, "sandboxes")
    dirs = {}
    for name in os.listdir(sandboxes):
        dirs[name] = os.path.isdir(os.path.join(sandboxes, name, "snapshot"))
    images = sorted(n for n in os.listdir(os.path.join(data, "images")) if n != "base")
    snap_dir = os.path.join(data, "snapshots", "templates")
    # The agent makes (and may still be making) the built-in templates'
    # snapshots at start-up by itself: they are no request's leftovers.
    snaps = sorted(n for n in (os.listdir(snap_dir) if os.path.isdir(snap_dir) else [])
                   if n.split("-", 1)[0] not in BUILTIN_TEMPLATES)
    return {"qemu": qemu_pids(data), "netns": netns, "links": links, "chains": chains,
            "elements": elements, "dirs": dirs, "images": images, "snapshots": snaps}


def observe(stack):
    cp = cp_sandboxes(stack)
    agent = agent_sandboxes(stack)
    templates = cp_templates(stack)
    return cp, agent, templates, host_view(stack.data)


def problems(stack, expect, templates_told):
    """(leaks, lost, other) lists of strings for the state now; `expect`
    maps sandbox ids to the states they may be in."""
    cp, agent, templates, host = observe(stack)
    if cp is None or agent is None or templates is None:
        return [], [], ["the control plane or the agent does not answer"]
    leaks, lost, other = [], [], []
    for sid, state in cp.items():
        if state in TRANSITIONAL:
            other.append(f"record {sid} still {state}")
        if state in ("running", "paused") and agent.get(sid) != state:
            (lost if sid in expect else other).append(
                f"record {sid} {state}, agent {agent.get(sid)}")
    for sid, state in agent.items():
        if cp.get(sid) != state:
            leaks.append(f"agent keeps {sid} ({state}), record {cp.get(sid)}")
    for sid, allowed in expect.items():
        if cp.get(sid, "absent") not in allowed:
            lost.append(f"sandbox {sid} is {cp.get(sid, 'absent')}, expected one of {sorted(allowed)}")
    running = [s for s, st in agent.items() if st == "running"]
    paused = [s for s, st in agent.items() if st == "paused"]
    counts = {"qemu processes": len(host["qemu"]), "wch-* namespaces": len(host["netns"]),
              "wrn-v* links": len(host["links"]), "nft slot chains": len(host["chains"]),
              "nft slot_policy elements": host["elements"]}
    for what, n in counts.items():
        if n > len(running):
            leaks.append(f"{n} {what} for {len(running)} running sandboxes")
        elif n < len(running):
            lost.append(f"{n} {what} for {len(running)} running sandboxes")
    for name, has_snapshot in host["dirs"].items():
        if name not in agent:
            leaks.append(f"directory sandboxes/{name} without an agent sandbox")
        elif has_snapshot and agent[name] != "paused":
            leaks.append(f"memory snapshot of {agent[name]} sandbox {name}")
    for sid in paused:
        if not host["dirs"].get(sid):
            lost.append(f"paused sandbox {sid} has no snapshot")
    tm_images = [i for i in host["images"] if i.startswith("tm-")]
    stray_images = [i for i in host["images"] if not i.startswith("tm-")]
    if stray_images:
        leaks.append(f"staging left under images/: {stray_images}")
    if len(tm_images) > len(templates):
        leaks.append(f"{len(tm_images)} template images for {len(templates)} team templates")
    elif len(tm_images) < len(templates):
        lost.append(f"{len(tm_images)} template images for {len(templates)} team templates")
    with_memory = [t for t in templates if t["has_memory_snapshot"]]
    tm_snaps = [s for s in host["snapshots"] if s.startswith("tm-") and ".tmp" not in s]
    stray_snaps = [s for s in host["snapshots"] if s not in tm_snaps]
    if stray_snaps:
        leaks.append(f"stray template snapshots: {stray_snaps}")
    if len(tm_snaps) != len(with_memory):
        (leaks if len(tm_snaps) > len(with_memory) else lost).append(
            f"{len(tm_snaps)} template memory snapshots for {len(with_memory)} templates with one")
    names = {t["name"] for t in templates}
    for name in templates_told:
        if name not in names:
            lost.append(f"template {name} (created with a 2xx) is gone")
    return leaks, lost, other


def exec_ok(stack, sid):
    status, body = stack.api("POST", f"/v1/sandboxes/{sid}/exec", {"command": "echo chaos-ok"}, timeout=60)
    return status == 200 and "chaos-ok" in json.dumps(body)


# ---------------------------------------------------------------- rounds

class Chaos:
    def __init__(self, stack, rng):
        self.stack, self.rng = stack, rng
        self.expect = {}  # sandbox id -> states it may be in
        self.templates_told = set()
        self.tried = {k: {"cp": 0, "agent": 0} for k in KINDS}
        # Distinct findings: a leak that stays is counted once.
        self.leaks, self.lost = set(), set()
        self.passed = self.failed = 0
        self.names = 0

    def create(self):
        status, body = self.stack.api("POST", "/v1/sandboxes", {
            "template": "base", "vcpus": 1, "memory_mb": 256, "timeout_secs": 3600})
        if status != 201:
            raise RuntimeError(f"create: {status} {body}")
        self.expect[body["id"]] = {"running"}
        return body["id"]

    def with_state(self, state):
        for sid, allowed in self.expect.items():
            if allowed == {state}:
                return sid
        sid = self.create()
        if state == "paused":
            status, body = self.stack.api("POST", f"/v1/sandboxes/{sid}/pause")
            if status != 200:
                raise RuntimeError(f"pause: {status} {body}")
            self.expect[sid] = {"paused"}
        return sid

    def trim(self):
        live = [s for s, a in self.expect.items() if a & {"running", "paused"}]
        for sid in live[: max(0, len(live) - (MAX_LIVE - 1))]:
            self.stack.api("DELETE", f"/v1/sandboxes/{sid}")
            self.expect[sid] = {"stopped"}

    def interrupted(self, kind, victim, delay):
        """Starts `kind`, kills `victim` after `delay` s; returns the answer's
        status (0 if none) and the sandbox id it concerned."""
        sid = None
        if kind == "create":
            request = ("POST", "/v1/sandboxes",
                       {"template": "base", "vcpus": 1, "memory_mb": 256, "timeout_secs": 3600})
        elif kind == "resume":
            sid = self.with_state("paused")
            request = ("POST", f"/v1/sandboxes/{sid}/resume", None)
        else:
            sid = self.with_state("running")
            self.names += 1
            request = {
                "pause": ("POST", f"/v1/sandboxes/{sid}/pause", None),
                "destroy": ("DELETE", f"/v1/sandboxes/{sid}", None),
                "snapshot": ("POST", f"/v1/sandboxes/{sid}/snapshot",
                             {"name": f"chaos-{self.names}", "memory": self.rng.random() < 0.5}),
            }[kind]
        answer = {}

        def call():
            answer["status"], answer["body"] = self.stack.api(*request, timeout=120)

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(delay)
        self.stack.kill(victim)
        thread.join()
        status, body = answer["status"], answer["body"]
        ok = 200 <= status < 300
        if kind == "create":
            if ok:
                sid = body["id"]
                self.expect[sid] = {"running"}
        elif kind == "pause":
            self.expect[sid] = {"paused"} if ok else {"running", "paused"}
        elif kind == "resume":
            self.expect[sid] = {"running"} if ok else {"running", "paused"}
        elif kind == "destroy":
            self.expect[sid] = {"stopped"} if ok else {"running", "stopped"}
        elif kind == "snapshot" and ok:
            self.templates_told.add(request[2]["name"])
        return status, sid

    def settle(self):
        """Waits until the checks pass or SETTLE_SECS pass; answers the last
        (leaks, lost, other)."""
        deadline = time.monotonic() + SETTLE_SECS
        while True:
            found = problems(self.stack, self.expect, self.templates_told)
            if not any(found) or time.monotonic() > deadline:
                return found
            time.sleep(1)

    def adopt_observed(self):
        """After a round, what is now is what is expected next."""
        cp = cp_sandboxes(self.stack) or {}
        for sid, state in cp.items():
            self.expect[sid] = {state}

    def verdict(self, title, leaks, lost, other):
        self.leaks.update(leaks)
        self.lost.update(lost)
        if leaks or lost or other:
            self.failed += 1
            log(f"FAIL {title}")
            for line in leaks:
                log(f"  leak: {line}")
            for line in lost:
                log(f"  lost: {line}")
            for line in other:
                log(f"  inconsistent: {line}")
        else:
            self.passed += 1
            log(f"ok   {title}")

    def round(self, n, kind, victim):
        self.trim()
        delay = round(self.rng.uniform(0.0, WINDOW[kind]), 2)
        status, sid = self.interrupted(kind, victim, delay)
        self.tried[kind][victim] += 1
        self.stack.restart(victim)
        leaks, lost, other = self.settle()
        running = [s for s, a in self.expect.items() if a == {"running"}]
        cp = cp_sandboxes(self.stack) or {}
        for s in running:
            if cp.get(s) == "running" and not exec_ok(self.stack, s):
                lost.append(f"running sandbox {s} does not execute a command")
        title = f"round {n}: {kind} ({sid or 'new'}), kill {victim} after {delay} s, answer {status}"
        self.verdict(title, leaks, lost, other)
        self.adopt_observed()

    def teardown(self):
        cp = cp_sandboxes(self.stack) or {}
        for sid, state in cp.items():
            if state != "stopped":
                self.stack.api("DELETE", f"/v1/sandboxes/{sid}")
                self.expect[sid] = {"stopped", "error"} if state == "error" else {"stopped"}
        for template in cp_templates(self.stack) or []:
            self.stack.api("DELETE", f"/v1/templates/{template['name']}")
        self.templates_told.clear()
        leaks, lost, other = self.settle()
        _, agent, _, host = observe(self.stack)
        if agent:
            leaks.append(f"agent still keeps {sorted(agent)}")
        for what in ("qemu", "netns", "links", "chains", "dirs", "images", "snapshots"):
            if host[what]:
                leaks.append(f"left after destroying everything: {what} {host[what]}")
        if host["elements"]:
            leaks.append(f"left after destroying everything: {host['elements']} slot_policy elements")
        self.verdict("teardown: everything destroyed, nothing left", leaks, lost, other)


def main():
    bin_dir, work, logs = sys.argv[1], sys.argv[2], sys.argv[3]
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 32))
    rounds = int(os.environ.get("CHAOS_ROUNDS") or 10)
    # CHAOS_KINDS=create,pause: only those operation kinds (the security
    # suite replays the found create leak this way).
    kinds = [k for k in (os.environ.get("CHAOS_KINDS") or ",".join(KINDS)).split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        print(f"chaos: unknown CHAOS_KINDS {unknown}; known: {KINDS}")
        print("chaos: 0 passed, 1 failed", flush=True)
        return 1
    log(f"seed {seed} (replay with CHAOS_SEED={seed}), {rounds} rounds")
    rng = random.Random(seed)
    stack = Stack(bin_dir, work, logs)
    chaos = Chaos(stack, rng)
    try:
        stack.start_agent()
        stack.start_cp()
        stack.login()
        for n in range(rounds):
            kind = kinds[n % len(kinds)]
            victim = ["cp", "agent"][(n % len(kinds) + n // len(kinds)) % 2]
            try:
                chaos.round(n + 1, kind, victim)
            except Exception as err:  # a broken round is a failed round
                chaos.verdict(f"round {n + 1}: {kind}, kill {victim}", [], [], [f"{type(err).__name__}: {err}"])
                for daemon, url in ((stack.agent, stack.agent_url), (stack.cp, stack.cp_url)):
                    if not daemon.alive():
                        daemon.start()
                        stack.wait_health(daemon, url)
        chaos.teardown()
    except Exception as err:
        chaos.verdict("set-up", [], [], [f"{type(err).__name__}: {err}"])
    finally:
        stack.cp.stop()
        stack.agent.stop()
        for pid in qemu_pids(stack.data):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for ns in [l.split()[0] for l in lines(["ip", "netns", "list"]) if l.startswith(NETNS_PREFIX)]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for kind in KINDS:
        t = chaos.tried[kind]
        log(f"interrupted {kind}: {t['cp'] + t['agent']} (control plane {t['cp']}, agent {t['agent']})")
    log(f"interruptions: {sum(t['cp'] + t['agent'] for t in chaos.tried.values())}")
    print(f"leaks: {len(chaos.leaks)}")
    print(f"lost: {len(chaos.lost)}")
    print(f"chaos: {chaos.passed} passed, {chaos.failed} failed", flush=True)
    return 0 if chaos.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
