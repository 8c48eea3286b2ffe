"""Shared helpers of the security checks: free ports, a real `wrenn-cp`
process on a fresh SQLite database, JSON requests, and a tally that prints
`NAME: N passed, M failed`. Standard library only."""
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, token=None, headers=None):
    """(status, parsed JSON or text) of one request; never raises on 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, raw, hdrs = err.code, err.read(), err.headers
    try:
        return status, json.loads(raw or b"null"), hdrs
    except ValueError:
        return status, raw.decode(errors="replace"), hdrs


class ControlPlane:
    """`wrenn-cp` from target/debug on its own SQLite database."""

    def __init__(self, root, log_name, env=None, db_dir=None):
        self.dir = db_dir or tempfile.mkdtemp(prefix="wrenn-sec-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CP_", "AGENT_"))}
        self.env = dict(base, DATABASE_URL=f"sqlite://{self.dir}/cp.db",
                        CP_JWT_SECRET=secrets.token_urlsafe(48),
                        CP_LISTEN_ADDR=f"127.0.0.1:{self.port}", CP_LOG="info", **(env or {}))
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
        self.binary = os.path.join(target, "debug", "wrenn-cp")
        self.log_path = os.path.join(root, "target", "test-logs", log_name)
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=log, stderr=log)
        for _ in range(600):
            try:
                if request("GET", self.url + "/health")[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"wrenn-cp did not start (log: {self.log_path})")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def signup(self, email):
        status, body, _ = request("POST", self.url + "/v1/auth/signup",
                                  {"email": email, "password": "security-check-password"})
        assert status == 201 or status == 200, (status, body)
        return body["token"]


class Tally:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, label, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  ok    {label}")
        else:
            self.failed += 1
            print(f"  FAIL  {label} {detail}")

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)
