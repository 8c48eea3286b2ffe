#!/usr/bin/env python3
"""envd benchmarks through the e2b SDK (debug mode, envd at localhost:49983).

Every figure is taken for two builds in the same run, in alternating rounds:
`base`, the envd of ENVD_BENCH_BASELINE (a commit, default e523d58: envd
before the data-path work of issue 15, or a path to a binary), and `new`,
the envd of this tree (both the static release binary images/envd.sh builds
and caches). Rows `<where>.<build>.<figure>` are medians over the rounds,
rows `<where>.ratio.<figure>` are new / base (for run_true, base / new: above
1 is faster either way). On the host each build runs as `envd --no-init`;
with WRENN_BENCH_VM=1 one TCG VM (`wrenn-agent boot --hold`) of the base
image is measured too, with the envd the image carries (the row
`envd-vm.build` says which of the two it is; rebuild the image with
`images/rootfs/build.sh base <envd>` to measure the other). Prints
`name<TAB>value<TAB>unit<TAB>note` rows.

Knobs: ENVD_BENCH_STREAM_MB (default 500 on the host, 50 in the VM),
ENVD_BENCH_FILE_MB (default 256), ENVD_BENCH_RUNS (default 200),
ENVD_BENCH_ROUNDS (default 3), ENVD_BENCH_FILE_PATH (default
/dev/shm/envd-bench.bin) and ENVD_BENCH_VM_FILE_PATH (default
/tmp/envd-bench.bin), ENVD_BENCH_SKIP_HOST=1 (only the VM
figures), ENVD_BENCH_PORT (default 49983, the SDK's), ENVD_BENCH_NEW (a
binary to measure as `new` instead of building this tree's), ENVD_URL + ENVD_PID
(measure one running envd instead, as before).
"""
import hashlib
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Another port keeps a run clear of an envd (or a test suite) already on
# the SDK's default one.
PORT = int(os.environ.get("ENVD_BENCH_PORT", "49983"))
os.environ.setdefault("E2B_DEBUG", "true")

try:
    from e2b import Sandbox
except ImportError:
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and sys.executable != str(venv_python):
        os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
    raise
from e2b.connection_config import ConnectionConfig  # noqa: E402

# Debug mode reaches envd at localhost:<envd_port>.
ConnectionConfig.envd_port = PORT


def row(name, value, unit, note=""):
    print(f"{name}\t{value}\t{unit}\t{note}", flush=True)


def healthy():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1) as r:
            return r.status == 204
    except Exception:
        return False


def wait(predicate, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


class HostRss:
    def __init__(self, pid):
        self.pid = pid

    def hwm_mib(self):
        if not self.pid:
            return None
        text = pathlib.Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024


class GuestRss:
    def __init__(self, sandbox):
        self.sandbox = sandbox

    def hwm_mib(self):
        out = self.sandbox.commands.run(
            # The server child (`envd --serve`), not PID 1 (the init) and not
            # this shell, whose command line would match a pattern search.
            "pid=$(python3 -c \"import os; print(next(p for p in os.listdir('/proc') if p.isdigit() "
            "and open('/proc/%s/cmdline' % p, 'rb').read().split(b'\\0')[1:2] == [b'--serve']))\"); "
            "grep VmHWM /proc/$pid/status", user="root"
        ).stdout
        return int(re.search(r"VmHWM:\s+(\d+) kB", out).group(1)) / 1024


BASELINE = os.environ.get("ENVD_BENCH_BASELINE", "e523d58")
# Where the upload goes and the download comes from: a tmpfs on both sides
# (the guest's /tmp is one), so the figure is envd's and not the state of the
# host disk's writeback (which other work on the host changes from run to run).
HOST_FILE = os.environ.get("ENVD_BENCH_FILE_PATH", "/dev/shm/envd-bench.bin")
VM_FILE = os.environ.get("ENVD_BENCH_VM_FILE_PATH", "/tmp/envd-bench.bin")
# figure -> (unit, higher is better)
FIGURES = {
    "run_true.median": ("ms", False),
    "run_true.p99": ("ms", False),
    "stdout_stream": ("MB/s", True),
    "upload": ("MB/s", True),
    "download": ("MB/s", True),
    "rss_peak": ("MiB", False),
}


def measure(rss, stream_mb, file_mb, runs, path):
    """One round against the envd behind localhost:49983: {figure: value}."""
    out = {}
    sb = Sandbox.create()
    sb.commands.run("true")

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sb.commands.run("true")
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    out["run_true.median"] = statistics.median(times)
    out["run_true.p99"] = times[max(int(len(times) * 0.99) - 1, 0)]

    received = 0
    handle = sb.commands.run(f"head -c {stream_mb}M /dev/zero", background=True, timeout=0)
    handle._stdout_chunks = None  # count bytes, keep none in memory
    t = time.perf_counter()
    for stdout, _, _ in handle:
        if stdout:
            received += len(stdout)
    elapsed = time.perf_counter() - t
    if received != stream_mb << 20:
        sys.exit(f"stdout stream: got {received} bytes, expected {stream_mb << 20}")
    out["stdout_stream"] = received / elapsed / 1e6

    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "up.bin"
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(file_mb):
                f.write(block)
        size = file_mb << 20
        sb.commands.run(f"rm -f {path}", user="root")
        t = time.perf_counter()
        with open(src, "rb") as f:
            sb.files.write(path, f, user="root")
        elapsed = time.perf_counter() - t
        out["upload"] = size / elapsed / 1e6

        t = time.perf_counter()
        total = 0
        for chunk in sb.files.read(path, format="stream", user="root"):
            total += len(chunk)
        elapsed = time.perf_counter() - t
        if total != size:
            sys.exit(f"download: got {total} bytes, expected {size}")
        out["download"] = total / elapsed / 1e6
        hwm = rss.hwm_mib()
        out["rss_peak"] = hwm if hwm else float("nan")
        sb.commands.run(f"rm -f {path}", user="root")
    return out


NOTES = {
    "run_true.median": "{runs} calls of commands.run('true')",
    "run_true.p99": "{runs} calls of commands.run('true')",
    "stdout_stream": "head -c {stream_mb}M /dev/zero read through the SDK",
    "upload": "{file_mb} MiB random data to {path}, files.write (octet-stream)",
    "download": "{file_mb} MiB random data from {path}, files.read(format='stream')",
    "rss_peak": "envd server VmHWM after the round",
}


def report(where, rounds, params, note):
    """rounds: {build: [figures, ...]} -> median rows per build and ratios."""
    medians = {}
    for build, results in rounds.items():
        medians[build] = {}
        for figure, (unit, _) in FIGURES.items():
            values = [r[figure] for r in results]
            medians[build][figure] = statistics.median(values)
            spread = " ".join(f"{v:.1f}" for v in values)
            row(f"{where}.{build}.{figure}", f"{medians[build][figure]:.2f}", unit,
                f"{NOTES[figure].format(**params)}; median of {len(values)} rounds ({spread}) {note}")
    if "base" in medians and "new" in medians:
        for figure, (_, higher) in FIGURES.items():
            base, new = medians["base"][figure], medians["new"][figure]
            ratio = new / base if higher else base / new
            row(f"{where}.ratio.{figure}", f"{ratio:.2f}", "x",
                "new vs base, above 1 is better (" + ("new/base" if higher else "base/new") + ")")


def baseline_binary():
    """The static envd of ENVD_BENCH_BASELINE: a binary, or a commit built like images/envd.sh."""
    if os.path.isfile(BASELINE):
        return BASELINE
    with tempfile.TemporaryDirectory() as src:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        built = subprocess.run(["bash", f"{src}/images/envd.sh"], check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1]
        if built.startswith(src):
            # Not cacheable here (no writable data dir): keep a copy past the temp tree.
            keep = pathlib.Path(tempfile.gettempdir()) / f"envd-baseline-{BASELINE}"
            keep.write_bytes(pathlib.Path(built).read_bytes())
            keep.chmod(0o755)
            built = str(keep)
        return built


def this_binary():
    if os.environ.get("ENVD_BENCH_NEW"):
        return os.environ["ENVD_BENCH_NEW"]
    return subprocess.run(["bash", str(ROOT / "images/envd.sh")], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def host_round(binary, params):
    envd = subprocess.Popen([binary, "--no-init", "--listen", f"127.0.0.1:{PORT}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait(healthy, 20):
            sys.exit(f"envd {binary} did not start")
        return measure(HostRss(envd.pid), params["stream_mb"], params["file_mb"], params["runs"],
                       params["path"])
    finally:
        envd.send_signal(signal.SIGTERM)
        envd.wait()


def main():
    runs = int(os.environ.get("ENVD_BENCH_RUNS", "200"))
    file_mb = int(os.environ.get("ENVD_BENCH_FILE_MB", "256"))
    rounds = int(os.environ.get("ENVD_BENCH_ROUNDS", "3"))
    if os.environ.get("ENVD_URL"):
        pid = int(os.environ["ENVD_PID"]) if os.environ.get("ENVD_PID") else None
        params = {"runs": runs, "file_mb": file_mb, "path": HOST_FILE,
                  "stream_mb": int(os.environ.get("ENVD_BENCH_STREAM_MB", "500"))}
        result = measure(HostRss(pid), params["stream_mb"], file_mb, runs, HOST_FILE)
        report("envd-host", {"given": [result]}, params, "(ENVD_URL)")
        return
    builds = {"base": baseline_binary(), "new": this_binary()}
    for build, path in builds.items():
        row(f"envd.build.{build}", path, "path", BASELINE if build == "base" else "this tree")

    if os.environ.get("ENVD_BENCH_SKIP_HOST") != "1":
        if healthy():
            sys.exit(f"port {PORT} already serves an envd; stop it first")
        subprocess.run(["id", "user"], check=False, capture_output=True).returncode == 0 or subprocess.run(
            ["useradd", "-m", "-d", "/home/user", "-s", "/bin/bash", "user"], check=True)
        params = {"runs": runs, "file_mb": file_mb, "path": HOST_FILE,
                  "stream_mb": int(os.environ.get("ENVD_BENCH_STREAM_MB", "500"))}
        results = {build: [] for build in builds}
        for _ in range(rounds):
            for build, path in builds.items():
                results[build].append(host_round(path, params))
        report("envd-host", results, params, "(static musl release build, host)")

    if os.environ.get("WRENN_BENCH_VM") == "1":
        agent = subprocess.Popen(
            [str(ROOT / "target/debug/wrenn-agent"), "boot", "--template", "base",
             "--host-port", str(PORT), "--hold"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            ready = False
            for line in agent.stdout:
                if line.startswith("guest ready"):
                    ready = True
                    break
            if not ready:
                sys.exit("VM did not become ready")
            params = {"runs": int(os.environ.get("ENVD_BENCH_VM_RUNS", str(runs))),
                      "file_mb": int(os.environ.get("ENVD_BENCH_VM_FILE_MB", str(file_mb))),
                      "stream_mb": int(os.environ.get("ENVD_BENCH_VM_STREAM_MB", "50")),
                      "path": VM_FILE}
            guest = Sandbox.create().commands.run(
                "sha256sum \"$(readlink /proc/1/exe)\" | cut -d' ' -f1", user="root").stdout.strip()
            local = {b: hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest() for b, p in builds.items()}
            which = next((b for b, h in local.items() if h == guest), "image")
            row("envd-vm.build", which, "build", f"the envd the base image carries (sha256 {guest[:16]})")
            results = {which: []}
            for _ in range(rounds):
                results[which].append(measure(GuestRss(Sandbox.create()), params["stream_mb"],
                                              params["file_mb"], params["runs"], VM_FILE))
            report("envd-vm", results, params, "(QEMU TCG guest; smaller stream)")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=120)


if __name__ == "__main__":
    main()
