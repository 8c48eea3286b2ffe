"""The sandbox traffic proxy end to end. A real `wrenn-agent serve` (QEMU)
and a real `wrenn-cp` (SQLite, WRENN_DOMAIN=wrenn.localhost), real `base`
VMs; every client request goes to the control plane's listener on
loopback, routed by Host (`<port>-<id>.wrenn.localhost`) or by the
`E2b-Sandbox-Id` / `E2b-Sandbox-Port` headers. Checks:

- routing both ways, the client's `X-Access-Token` passed to envd untouched;
- 502 `{"sandboxId","message","code"}` for unknown, malformed, paused and
  destroyed sandboxes and bad ports; 431 JSON for oversize headers;
- envd's host-only routes (`/init`, `/shutdown`, disguised) refused, 403;
- 100 concurrent download streams, every byte right;
- a 2 GiB download (a sparse file made in the guest) with the control
  plane's RSS flat (< +64 MiB over its level before);
- WebSocket echo with a stdlib-only server in the guest;
- clients that disconnect mid-stream leave no connection or descriptor in
  the control plane or the agent;
- traffic token: 403 without or wrong, 200 with it, envd's port exempt;
- auto-resume: a paused sandbox with `auto_resume` answers the request and
  runs again; one without it answers 502;
- the agent killed mid-stream: the client's download ends with an error
  (no hang), the control plane keeps serving, then answers 502.

Prints `proxy: N passed, M failed`. Standard library only."""
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT, BIN, WORK, LOGS = sys.argv[1:5]
sys.path.insert(0, os.path.join(ROOT, "tests", "security", "lib"))
from stack import ControlPlane, Tally, free_port, request  # noqa: E402

DOMAIN = "wrenn.localhost"
ENVD = 49983
NETNS_PREFIX = "wpx-"
tally = Tally("proxy")


class Agent:
    def __init__(self):
        self.data = os.path.join(WORK, "data")
        os.makedirs(os.path.join(self.data, "sandboxes"), exist_ok=True)
        os.makedirs(os.path.join(self.data, "images"), exist_ok=True)
        src = "/var/lib/wrenn"
        for link, target in [("kernels", "kernels"), (os.path.join("images", "base"), os.path.join("images", "base"))]:
            path = os.path.join(self.data, link)
            if not os.path.exists(path):
                os.symlink(os.path.join(src, target), path)
        self.secret = secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "CP_"))}
        self.env = dict(base, WRENN_DATA_DIR=self.data, AGENT_SECRET=self.secret,
                        AGENT_LISTEN_ADDR=f"127.0.0.1:{self.port}", AGENT_NETNS_PREFIX=NETNS_PREFIX,
                        AGENT_BACKEND="qemu", AGENT_LOG="info")
        self.proc = None

    def start(self):
        log = open(os.path.join(LOGS, "proxy-agent.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "wrenn-agent"), "serve"], env=self.env,
                                     stdout=log, stderr=log)
        for _ in range(1200):
            try:
                if request("GET", self.url + "/health")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("wrenn-agent did not start (log: target/test-logs/proxy-agent.log)")

    def rpc(self, method, body):
        return request("POST", f"{self.url}/wrenn.agent.v1.AgentService/{method}", body,
                       headers={"Authorization": f"Bearer {self.secret}"})

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


agent = Agent()
cp = ControlPlane(ROOT, "proxy-cp.log", env={
    "CP_AGENT_URL": agent.url, "CP_AGENT_SECRET": agent.secret, "WRENN_DOMAIN": DOMAIN,
    "CP_RECONCILE_INTERVAL_SECS": "1", "CP_MAX_SANDBOXES_PER_TEAM": "20"}, db_dir=WORK)
token = None


def api(method, path, body=None, timeout=300):
    """(status, JSON, headers) of a REST call; creates, pauses and resumes of
    VMs under TCG can take longer than the shared helper's minute."""
    req = urllib.request.Request(cp.url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, raw, hdrs = err.code, err.read(), err.headers
    try:
        return status, json.loads(raw or b"null"), hdrs
    except ValueError:
        return status, raw.decode(errors="replace"), hdrs


def create(**fields):
    status, body, _ = api("POST", "/v1/sandboxes", dict({"template": "base", "timeout_secs": 900}, **fields))
    assert status == 201, (status, body)
    return body


def exec_(sid, command, timeout=60):
    status, body, _ = api("POST", f"/v1/sandboxes/{sid}/exec", {"command": command, "timeout_secs": timeout})
    assert status == 200 and body["exit_code"] == 0, (status, body)
    return body["stdout"]


def envd_token(sid):
    status, body, _ = agent.rpc("GetSandbox", {"id": sid})
    assert status == 200, (status, body)
    return body["sandbox"]["envdAccessToken"]


def conn(timeout=120):
    return http.client.HTTPConnection("127.0.0.1", cp.port, timeout=timeout)


def via_host(method, sid, port, path, headers=None, body=None, timeout=120):
    """(status, headers, body bytes) of one request by Host routing."""
    c = conn(timeout)
    try:
        c.request(method, path, body=body, headers=dict({"Host": f"{port}-{sid}.{DOMAIN}:{cp.port}"}, **(headers or {})))
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def via_headers(method, sid, port, path, headers=None, body=None):
    c = conn()
    try:
        h = {"Host": f"localhost:{cp.port}", "E2b-Sandbox-Id": sid}
        if port is not None:
            h["E2b-Sandbox-Port"] = str(port)
        c.request(method, path, body=body, headers=dict(h, **(headers or {})))
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def is_502(status, raw, sid):
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return status == 502 and sorted(body) == ["code", "message", "sandboxId"] and body["code"] == 502 \
        and body["sandboxId"] == sid


def check_raises(label, fn):
    try:
        fn()
        tally.check(label, True)
    except Exception as err:  # noqa: BLE001 (a failed check, reported)
        tally.check(label, False, repr(err)[:400])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def established(port):
    """Established TCP connections with `port` on either end (loopback)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} or dport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def settle(measure, baseline, seconds=15):
    """Waits until `measure()` is back to at most `baseline`; its last value."""
    deadline = time.monotonic() + seconds
    value = measure()
    while value > baseline and time.monotonic() < deadline:
        time.sleep(0.25)
        value = measure()
    return value


def download(sid, tok, path, chunk=1 << 20, stop_after=None, on_chunk=None):
    """Streams GET /files?path= through the proxy; (status, bytes read, sha256)."""
    c = conn(300)
    try:
        c.request("GET", f"/files?path={path}", headers={"Host": f"{ENVD}-{sid}.{DOMAIN}", "X-Access-Token": tok})
        r = c.getresponse()
        digest, total = hashlib.sha256(), 0
        while True:
            data = r.read(chunk)
            if not data:
                break
            digest.update(data)
            total += len(data)
            if on_chunk:
                on_chunk(total)
            if stop_after is not None and total >= stop_after:
                # Gone mid-stream: unread data makes the close a reset.
                if c.sock is not None:
                    c.sock.shutdown(socket.SHUT_RDWR)
                r.close()
                break
        return r.status, total, digest.hexdigest()
    finally:
        c.close()


# ------------------------------------------------------------ WebSocket

WS_SERVER = r'''
import base64, hashlib, socket, sys, threading
def handle(c):
    data = b""
    while b"\r\n\r\n" not in data:
        more = c.recv(4096)
        if not more:
            return
        data += more
    key = [l.split(b":", 1)[1].strip() for l in data.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    f = c.makefile("rb")
    while True:
        h = f.read(2)
        if len(h) < 2:
            break
        op, n = h[0] & 15, h[1] & 127
        if n == 126:
            n = int.from_bytes(f.read(2), "big")
        elif n == 127:
            n = int.from_bytes(f.read(8), "big")
        mask = f.read(4) if h[1] & 128 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(f.read(n)))
        if op == 8:
            c.sendall(b"\x88\x00")
            break
        head = bytes([0x80 | op])
        head += bytes([n]) if n < 126 else (bytes([126]) + n.to_bytes(2, "big") if n < 65536 else bytes([127]) + n.to_bytes(8, "big"))
        c.sendall(head + payload)
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
'''


def ws_frame(payload, op=1):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | op])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(f):
    h = f.read(2)
    n = h[1] & 127
    if n == 126:
        n = int.from_bytes(f.read(2), "big")
    elif n == 127:
        n = int.from_bytes(f.read(8), "big")
    return h[0] & 15, f.read(n)


def ws_echo(sid, port, messages):
    s = socket.create_connection(("127.0.0.1", cp.port), timeout=30)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /echo HTTP/1.1\r\nHost: {port}-{sid}.{DOMAIN}:{cp.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        f = s.makefile("rb")
        status = f.readline()
        assert b" 101 " in status, status
        headers = {}
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == expected, headers
        echoed = []
        for m in messages:
            s.sendall(ws_frame(m))
            op, payload = ws_read(f)
            echoed.append(payload)
        s.sendall(ws_frame(b"", op=8))
        return echoed
    finally:
        s.close()


# --------------------------------------------------------------- checks

def main():
    global token
    agent.start()
    cp.start()
    token = cp.signup("proxy@wrenn.test")

    sb = create()
    sid = sb["id"]
    tok = envd_token(sid)

    # Routing and the access token.
    status, _, _ = via_headers("GET", sid, None, "/health")
    tally.check("headers routing: /health 204 (default port envd)", status == 204, status)
    status, _, _ = via_host("GET", sid, ENVD, "/health")
    tally.check("host routing: /health 204", status == 204, status)
    status, _, _ = via_host("GET", sid, ENVD, "/envs")
    tally.check("envd checks X-Access-Token itself: none -> 401", status == 401, status)
    status, _, raw = via_host("GET", sid, ENVD, "/envs", {"X-Access-Token": tok})
    tally.check("client's X-Access-Token passed through: 200", status == 200, (status, raw[:200]))
    status, _, _ = via_host("GET", sid, ENVD, "/envs", {"X-Access-Token": "wrong"})
    tally.check("wrong X-Access-Token -> envd's 401", status == 401, status)
    status, body, _ = api("GET", "/v1/sandboxes")
    tally.check("other hosts still reach the REST API", status == 200, status)

    # 502 and friends.
    for label, (s_id, port) in {
        "unknown id": ("doesnotexist0000000", ENVD),
        # Host names are case-insensitive: the proxy reads them lowercase.
        "malformed id": ("abc_!", ENVD),
        "port 0": (sid, 0),
        "port 99999": (sid, 99999),
    }.items():
        status, _, raw = via_host("GET", s_id, port, "/health")
        tally.check(f"502 exact body: {label}", is_502(status, raw, s_id), (status, raw[:200]))
    status, _, raw = via_headers("GET", "nosuchsandbox", 3000, "/")
    tally.check("502 exact body: unknown id by headers", is_502(status, raw, "nosuchsandbox"), (status, raw[:200]))
    status, _, raw = via_headers("GET", "ABC_!", None, "/health")
    tally.check("502 exact body: malformed id by headers", is_502(status, raw, "ABC_!"), (status, raw[:200]))
    status, _, raw = via_host("GET", sid, ENVD, "/health", {"X-Big": "a" * 40000})
    ok = status == 431 and json.loads(raw).get("code") == 431
    tally.check("oversize headers: 431 JSON", ok, (status, raw[:200]))

    # Host-only envd routes.
    for method, path in [("POST", "/init"), ("POST", "/shutdown"), ("POST", "//init"), ("POST", "/%69nit"),
                         ("GET", "/init/"), ("POST", "/SHUTDOWN")]:
        status, _, raw = via_host(method, sid, ENVD, path, {"X-Access-Token": tok}, body=b"{}")
        ok = status == 403 and json.loads(raw).get("code") == 403
        tally.check(f"host-only route refused: {method} {path}", ok, (status, raw[:200]))
    status, _, _ = via_host("GET", sid, ENVD, "/health")
    tally.check("sandbox still healthy after host-only attempts", status == 204, status)

    # 100 concurrent streams.
    exec_(sid, "head -c 4194304 /dev/urandom > /tmp/four && sha256sum /tmp/four > /tmp/four.sum")
    expected = exec_(sid, "cat /tmp/four.sum").split()[0]

    def one(_):
        return download(sid, tok, "/tmp/four")

    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        results = list(pool.map(one, range(100)))
    good = sum(1 for st, n, digest in results if st == 200 and n == 4194304 and digest == expected)
    tally.check("100 concurrent streams: all 4 MiB, right bytes", good == 100, f"{good}/100")

    # 2 GiB download, RSS flat.
    exec_(sid, "truncate -s 2G /tmp/big")
    cp_pid = cp.proc.pid
    before = rss_kib(cp_pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(cp_pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        status, total, _ = download(sid, tok, "/tmp/big")
    finally:
        done.set()
        sampler.join()
    took = time.monotonic() - started
    growth = (peak[0] - before) / 1024
    tally.check("2 GiB download complete", status == 200 and total == 2 << 30, (status, total))
    tally.check(f"cp RSS flat during 2 GiB ({growth:.1f} MiB growth, {2048 / took:.0f} MiB/s)",
                growth < 64, f"{before} -> {peak[0]} KiB")

    # Clients that disconnect mid-stream.
    agent_pid = agent.proc.pid
    time.sleep(1)
    base_cp_fds, base_agent_fds = fds(cp_pid), fds(agent_pid)
    base_cp_conns = established(cp.port)
    for _ in range(10):
        download(sid, tok, "/tmp/big", stop_after=8 << 20)
    cp_fds = settle(lambda: fds(cp_pid), base_cp_fds)
    agent_fds = settle(lambda: fds(agent_pid), base_agent_fds)
    conns = settle(lambda: established(cp.port), base_cp_conns)
    tally.check("disconnects mid-stream: no cp descriptor left", cp_fds <= base_cp_fds, (base_cp_fds, cp_fds))
    tally.check("disconnects mid-stream: no agent descriptor left", agent_fds <= base_agent_fds,
                (base_agent_fds, agent_fds))
    tally.check("disconnects mid-stream: no client connection left", conns <= base_cp_conns, (base_cp_conns, conns))
    status, _, _ = via_host("GET", sid, ENVD, "/health")
    tally.check("proxy serves after the disconnects", status == 204, status)
    exec_(sid, "rm -f /tmp/big /tmp/four")

    # WebSocket echo to a guest port.
    script = base64.b64encode(WS_SERVER.encode()).decode()
    exec_(sid, f"echo {script} | base64 -d > /tmp/ws.py && (setsid -f python3 /tmp/ws.py 8765 >/tmp/ws.log 2>&1 </dev/null)")
    messages = [b"hello", b"x" * 70000, "žluťoučký".encode()]

    def echo_when_listening():
        for attempt in range(40):
            try:
                return ws_echo(sid, 8765, messages)
            except (AssertionError, OSError):
                # 502 until the server in the guest listens.
                if attempt == 39:
                    raise
                time.sleep(0.5)

    def echo_matches():
        got = echo_when_listening()
        assert got == messages, [m[:40] for m in got]

    check_raises("WebSocket echo through the proxy (3 messages, one 70 kB)", echo_matches)
    status, _, raw = via_host("GET", sid, 8766, "/")
    body = json.loads(raw or b"{}")
    tally.check("closed guest port: 502 JSON", status == 502 and body.get("code") == 502, (status, raw[:200]))

    # Traffic token.
    private = create(public_traffic=False)
    pid_ = private["id"]
    traffic = private.get("traffic_access_token")
    tally.check("create without public traffic answers a traffic token",
                bool(traffic) and private.get("public_traffic") is False, private)
    exec_(pid_, "(setsid -f python3 -m http.server 8000 --directory /tmp >/dev/null 2>&1 </dev/null)")
    for _ in range(50):
        if via_host("GET", pid_, 8000, "/", {"e2b-traffic-access-token": traffic or ""})[0] == 200:
            break
        time.sleep(0.2)
    status, _, raw = via_host("GET", pid_, 8000, "/")
    tally.check("private port without token: 403 JSON", status == 403 and json.loads(raw)["code"] == 403,
                (status, raw[:200]))
    status, _, _ = via_host("GET", pid_, 8000, "/", {"e2b-traffic-access-token": "wrong"})
    tally.check("private port with a wrong token: 403", status == 403, status)
    status, _, _ = via_host("GET", pid_, 8000, "/", {"e2b-traffic-access-token": traffic or ""})
    tally.check("private port with its token: 200", status == 200, status)
    status, _, _ = via_host("GET", pid_, ENVD, "/health")
    tally.check("envd's port exempt from the traffic token", status == 204, status)
    exec_(sid, "(setsid -f python3 -m http.server 8000 --directory /tmp >/dev/null 2>&1 </dev/null)")
    for _ in range(50):
        status, _, _ = via_host("GET", sid, 8000, "/")
        if status == 200:
            break
        time.sleep(0.2)
    tally.check("public sandbox's user port needs no token: 200", status == 200, status)
    api("DELETE", f"/v1/sandboxes/{pid_}")

    # Auto-resume by request; no auto-resume -> 502.
    auto = create(auto_resume=True)
    aid = auto["id"]
    manual = create()
    mid = manual["id"]
    for s in (aid, mid):
        status, body, _ = api("POST", f"/v1/sandboxes/{s}/pause")
        assert status == 200, (status, body)
    status, _, raw = via_host("GET", mid, ENVD, "/health")
    tally.check("paused sandbox without auto-resume: 502", is_502(status, raw, mid), (status, raw[:200]))
    status, _, raw = via_host("GET", aid, ENVD, "/health", timeout=300)
    tally.check("paused sandbox with auto-resume: the request is answered", status == 204, (status, raw[:200]))
    status, body, _ = api("GET", f"/v1/sandboxes/{aid}")
    tally.check("auto-resumed sandbox is running", status == 200 and body["state"] == "running", body)
    for s in (aid, mid):
        api("DELETE", f"/v1/sandboxes/{s}")
    status, _, raw = via_host("GET", aid, ENVD, "/health")
    tally.check("destroyed sandbox: 502", is_502(status, raw, aid), (status, raw[:200]))

    # The agent killed mid-stream.
    exec_(sid, "truncate -s 2G /tmp/big")
    outcome = {}

    def killer(total):
        if total >= 64 << 20 and "killed" not in outcome:
            outcome["killed"] = True
            agent.proc.send_signal(signal.SIGKILL)

    started = time.monotonic()
    try:
        status, total, _ = download(sid, tok, "/tmp/big", on_chunk=killer)
        outcome["result"] = (status, total)
    except (http.client.HTTPException, OSError) as err:
        outcome["error"] = type(err).__name__
    took = time.monotonic() - started
    short = "error" in outcome or outcome.get("result", (0, 2 << 30))[1] < 2 << 30
    tally.check(f"agent killed mid-stream: the client's download fails ({outcome.get('error', outcome.get('result'))}, {took:.1f} s)",
                outcome.get("killed") and short, outcome)
    status, _, _ = request("GET", cp.url + "/health")
    tally.check("control plane still serving after the agent died", status == 200, status)
    status, _, raw = via_host("GET", sid, ENVD, "/health")
    tally.check("sandbox of a dead host: 502 JSON", is_502(status, raw, sid), (status, raw[:200]))


try:
    main()
except Exception as err:  # noqa: BLE001
    import traceback
    traceback.print_exc()
    tally.check("suite ran to the end", False, repr(err)[:400])
finally:
    cp.stop()
    if agent.proc and agent.proc.poll() is None:
        agent.stop()
    # A killed agent leaves its VMs: a fresh agent on the same data cleans up
    # on start and destroys everything on the way out.
    agent.env["AGENT_LOG"] = "warn"
    try:
        agent.start()
        for sb in (agent.rpc("ListSandboxes", {})[1] or {}).get("sandboxes", []):
            agent.rpc("DestroySandbox", {"id": sb["id"]})
    except Exception as err:  # noqa: BLE001
        print(f"cleanup: {err}", file=sys.stderr)
    agent.stop()
    # Nothing this suite started may outlive it (a VM would keep the VM lock).
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and any(WORK.encode() in a for a in argv):
            print(f"cleanup: killing leftover VM {pid}", file=sys.stderr)
            os.kill(int(pid), signal.SIGKILL)
tally.finish()
