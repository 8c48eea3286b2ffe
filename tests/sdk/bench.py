"""Issue #13's figures, in one run against one running sandbox
($WRENN_BENCH_SANDBOX, made by tests/sdk/run.sh sdk-bench): for the e2b
Python SDK (the yardstick) and each Wrenn SDK (`sdk/<lang>/scripts/bench.sh`,
JSON lines), the median and p99 of run("echo hi"), create -> first command
(median of 10) and a 10 MiB upload + download (median of 5). Prints
`name<TAB>value<TAB>unit<TAB>note` rows; the ratio of each SDK's run median
to e2b's is the issue's target (<= 1.2x)."""
import json
import os
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("SDK_BENCH_RUNS", "200"))
LANGS = ("python", "typescript", "go")


def row(name, value, unit, note=""):
    print(f"{name}\t{value}\t{unit}\t{note}", flush=True)


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def e2b_figures():
    from e2b import Sandbox

    sandbox = Sandbox.connect(os.environ["WRENN_BENCH_SANDBOX"])
    for _ in range(20):
        sandbox.commands.run("echo hi")
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        sandbox.commands.run("echo hi")
        times.append((time.perf_counter() - start) * 1000)
    yield {"figure": "run_echo", "median_ms": statistics.median(times), "p99_ms": p99(times), "n": RUNS}
    firsts = []
    for _ in range(10):
        start = time.perf_counter()
        fresh = Sandbox.create()
        try:
            fresh.commands.run("true")
            firsts.append((time.perf_counter() - start) * 1000)
        finally:
            fresh.kill()
    yield {"figure": "create_first_command", "median_ms": statistics.median(firsts), "n": 10}
    payload = os.urandom(10 * 1024 * 1024)
    ups, downs = [], []
    for _ in range(5):
        start = time.perf_counter()
        sandbox.files.write("/tmp/bench-10mib", payload)
        ups.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        back = sandbox.files.read("/tmp/bench-10mib", format="bytes")
        downs.append((time.perf_counter() - start) * 1000)
        assert bytes(back) == payload
    yield {"figure": "file_10mib", "upload_ms": statistics.median(ups), "download_ms": statistics.median(downs)}


def sdk_figures(lang):
    done = subprocess.run(
        ["bash", f"sdk/{lang}/scripts/bench.sh"], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise RuntimeError(f"sdk/{lang}/scripts/bench.sh failed ({done.returncode})")
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)


def report(name, figures, yardstick):
    for f in figures:
        if f["figure"] == "run_echo":
            note = ""
            if yardstick and name != "e2b":
                note = f"{f['median_ms'] / yardstick['median_ms']:.2f}x e2b's median (target <= 1.2x)"
            row(f"{name}-run-echo-median", f"{f['median_ms']:.1f}", "ms", note)
            row(f"{name}-run-echo-p99", f"{f['p99_ms']:.1f}", "ms", f"n={f['n']}")
        elif f["figure"] == "create_first_command":
            row(f"{name}-create-first-command", f"{f['median_ms']:.0f}", "ms", "median of 10")
        elif f["figure"] == "file_10mib":
            row(f"{name}-10mib-upload", f"{f['upload_ms']:.0f}", "ms", "median of 5")
            row(f"{name}-10mib-download", f"{f['download_ms']:.0f}", "ms", "median of 5")


def main():
    os.chdir(os.path.join(os.path.dirname(__file__), "..", ".."))
    failed = 0
    e2b = list(e2b_figures())
    yardstick = next(f for f in e2b if f["figure"] == "run_echo")
    report("e2b", e2b, None)
    for lang in LANGS:
        try:
            report(f"sdk-{lang}", list(sdk_figures(lang)), yardstick)
        except Exception as err:  # one SDK's failure does not hide the others' rows
            sys.stderr.write(f"{lang}: {err}\n")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
