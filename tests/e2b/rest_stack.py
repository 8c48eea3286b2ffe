"""A real Wrenn for the REST tests (test_rest_*.py): `wrenn-agent serve`
(QEMU, its own data directory over /var/lib/wrenn's kernel and `base`
image) and `wrenn-cp` on a fresh SQLite database, both from target/debug,
with the process helpers of the chaos suite (tests/chaos/chaos.py). The
e2b SDK reaches the E2B API at `<cp>/e2b` (E2B_API_URL)."""
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "chaos"))
from chaos import Daemon, free_port, http, lines, qemu_pids  # noqa: E402

NETNS_PREFIX = "wer-"


class RestStack:
    def __init__(self, root):
        bin_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "debug")
        logs = os.path.join(root, "target", "test-logs")
        os.makedirs(logs, exist_ok=True)
        self.work = tempfile.mkdtemp(prefix="wrenn-e2b-rest.")
        self.data = os.path.join(self.work, "data")
        os.makedirs(os.path.join(self.data, "sandboxes"))
        os.makedirs(os.path.join(self.data, "images"))
        src = os.environ.get("WRENN_DATA_SRC", "/var/lib/wrenn")
        os.symlink(os.path.join(src, "kernels"), os.path.join(self.data, "kernels"))
        os.symlink(os.path.join(src, "images", "base"), os.path.join(self.data, "images", "base"))
        self.secret = secrets.token_urlsafe(32)
        self.agent_url = f"http://127.0.0.1:{free_port()}"
        self.cp_url = f"http://127.0.0.1:{free_port()}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "CP_", "E2B_"))}
        agent_env = dict(base, WRENN_DATA_DIR=self.data, AGENT_SECRET=self.secret,
                         AGENT_LISTEN_ADDR=self.agent_url[len("http://"):],
                         AGENT_NETNS_PREFIX=NETNS_PREFIX, AGENT_BACKEND="qemu", AGENT_LOG="info")
        cp_env = dict(base, DATABASE_URL=f"sqlite://{self.work}/cp.db",
                      CP_JWT_SECRET=secrets.token_urlsafe(48),
                      CP_LISTEN_ADDR=self.cp_url[len("http://"):],
                      CP_AGENT_URL=self.agent_url, CP_AGENT_SECRET=self.secret,
                      CP_MAX_SANDBOXES_PER_TEAM="20", CP_LOG="info")
        self.agent = Daemon("agent", [os.path.join(bin_dir, "wrenn-agent"), "serve"], agent_env,
                            os.path.join(logs, "e2b-rest-agent.log"))
        self.cp = Daemon("cp", [os.path.join(bin_dir, "wrenn-cp")], cp_env,
                         os.path.join(logs, "e2b-rest-cp.log"))

    def start(self):
        for daemon, url in ((self.agent, self.agent_url), (self.cp, self.cp_url)):
            daemon.start()
            for _ in range(1200):
                if http("GET", f"{url}/health", timeout=2)[0] == 200:
                    break
                if not daemon.alive():
                    raise RuntimeError(f"{daemon.name} exited; see {daemon.logfile}")
                subprocess.run(["sleep", "0.1"])
            else:
                raise RuntimeError(f"{daemon.name} did not become healthy")
        return self

    def user(self, email, e2b_key=True):
        """Signs up `email`; answers an API key of its team (E2B's form by default)."""
        status, body = http("POST", f"{self.cp_url}/v1/auth/signup", None,
                            {"email": email, "password": "e2b-rest-password-1"})
        assert status == 201, (status, body)
        status, body = http("POST", f"{self.cp_url}/v1/keys",
                            {"Authorization": f"Bearer {body['token']}"},
                            {"name": "e2b", "e2b": e2b_key})
        assert status == 201, (status, body)
        return body["key"]

    def agent_sandbox(self, sandbox_id):
        """The agent's own record of a sandbox (`None` when it has none)."""
        status, body = http("POST", f"{self.agent_url}/wrenn.agent.v1.AgentService/GetSandbox",
                            {"Authorization": f"Bearer {self.secret}"}, {"id": sandbox_id}, timeout=30)
        return body.get("sandbox") if status == 200 else None

    def stop(self):
        """Stops both; nothing of theirs may outlive the suite."""
        self.cp.stop()
        self.agent.stop()
        for pid in qemu_pids(self.data):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for ns in [l.split()[0] for l in lines(["ip", "netns", "list"]) if l.startswith(NETNS_PREFIX)]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
