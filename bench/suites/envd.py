#!/usr/bin/env python3
"""envd benchmarks through the e2b SDK (debug mode, envd at localhost:49983).

Starts envd on the host like tests/envd/run.sh (or uses ENVD_URL + ENVD_PID
when set), then, with WRENN_BENCH_VM=1, envd inside a TCG VM via
`wrenn-agent boot --hold`. Prints `name<TAB>value<TAB>unit<TAB>note` rows.

Knobs: ENVD_BENCH_STREAM_MB (default 500 on the host, 50 in the VM),
ENVD_BENCH_FILE_MB (default 256), ENVD_BENCH_RUNS (default 200),
ENVD_BENCH_SKIP_HOST=1 (only the VM figures).
"""
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
PORT = 49983
os.environ.setdefault("E2B_DEBUG", "true")

try:
    from e2b import Sandbox
except ImportError:
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and sys.executable != str(venv_python):
        os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
    raise


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


def measure(prefix, rss, stream_mb, file_mb, runs, note):
    sb = Sandbox.create()
    sb.commands.run("true")

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sb.commands.run("true")
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    row(f"{prefix}.run_true.median", f"{statistics.median(times):.2f}", "ms", f"{runs} calls {note}")
    row(f"{prefix}.run_true.p99", f"{times[int(len(times) * 0.99) - 1]:.2f}", "ms", f"{runs} calls {note}")

    received = 0
    handle = sb.commands.run(f"head -c {stream_mb}M /dev/zero", background=True, timeout=0)
    handle._stdout_chunks = None  # count bytes, keep none in memory
    t = time.perf_counter()
    for stdout, _, _ in handle:
        if stdout:
            received += len(stdout)
    elapsed = time.perf_counter() - t
    row(f"{prefix}.stdout_stream", f"{received / elapsed / 1e6:.1f}", "MB/s",
        f"head -c {stream_mb}M /dev/zero, {received} bytes via SDK {note}")

    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "up.bin"
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(file_mb):
                f.write(block)
        size = file_mb << 20
        t = time.perf_counter()
        with open(src, "rb") as f:
            sb.files.write("/tmp/bench-256.bin", f, user="root")
        elapsed = time.perf_counter() - t
        row(f"{prefix}.upload", f"{size / elapsed / 1e6:.1f}", "MB/s", f"{file_mb} MiB octet-stream {note}")
        hwm = rss.hwm_mib()
        row(f"{prefix}.rss_peak_after_upload", f"{hwm:.1f}" if hwm else "n/a", "MiB", "envd VmHWM")

        t = time.perf_counter()
        total = 0
        for chunk in sb.files.read("/tmp/bench-256.bin", format="stream", user="root"):
            total += len(chunk)
        elapsed = time.perf_counter() - t
        row(f"{prefix}.download", f"{total / elapsed / 1e6:.1f}", "MB/s",
            f"{file_mb} MiB random data, {total} bytes (gzip only when the first chunk compresses) {note}")
        hwm = rss.hwm_mib()
        row(f"{prefix}.rss_peak_after_download", f"{hwm:.1f}" if hwm else "n/a", "MiB", "envd VmHWM")
        sb.commands.run("rm -f /tmp/bench-256.bin", user="root")


def main():
    runs = int(os.environ.get("ENVD_BENCH_RUNS", "200"))
    file_mb = int(os.environ.get("ENVD_BENCH_FILE_MB", "256"))
    if os.environ.get("ENVD_BENCH_SKIP_HOST") == "1":
        pass
    elif os.environ.get("ENVD_URL"):
        pid = int(os.environ["ENVD_PID"]) if os.environ.get("ENVD_PID") else None
        measure("envd-host", HostRss(pid), int(os.environ.get("ENVD_BENCH_STREAM_MB", "500")), file_mb, runs, "")
    else:
        if healthy():
            sys.exit(f"port {PORT} already serves an envd; set ENVD_URL/ENVD_PID to use it")
        # The static release binary the images carry (images/envd.sh builds it).
        binary = subprocess.run(["bash", str(ROOT / "images/envd.sh")], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        subprocess.run(["id", "user"], check=False, capture_output=True).returncode == 0 or subprocess.run(
            ["useradd", "-m", "-d", "/home/user", "-s", "/bin/bash", "user"], check=True)
        envd = subprocess.Popen([binary, "--no-init", "--listen", f"127.0.0.1:{PORT}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait(healthy, 20):
                sys.exit("envd did not start")
            measure("envd-host", HostRss(envd.pid), int(os.environ.get("ENVD_BENCH_STREAM_MB", "500")),
                    file_mb, runs, "(static musl release build)")
        finally:
            envd.send_signal(signal.SIGTERM)
            envd.wait()

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
            vm_runs = int(os.environ.get("ENVD_BENCH_VM_RUNS", str(runs)))
            stream_mb = int(os.environ.get("ENVD_BENCH_VM_STREAM_MB", "50"))
            vm_file_mb = int(os.environ.get("ENVD_BENCH_VM_FILE_MB", str(file_mb)))
            measure("envd-vm", GuestRss(Sandbox.create()), stream_mb, vm_file_mb, vm_runs,
                    "(QEMU TCG guest; smaller stream)")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=120)


if __name__ == "__main__":
    main()
