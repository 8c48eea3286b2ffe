"""`commands.run("true")` with the e2b SDK through the sandbox proxy
(https://49983-<id>.<domain>, TLS, h2) vs straight to envd (the guest's
address on this host, http://10.200.x.y:49983, which the agent reports):
median, p99 and their ratios (issue #12's first figure; target <= 1.2x).
Run inside the e2b stack by `tests/e2b/run.sh e2b-bench` (bench/suites/
e2b-proxy). Prints `name<TAB>value<TAB>unit<TAB>note` rows.
Knobs: E2B_BENCH_RUNS (200), E2B_BENCH_WARMUP (20)."""
import importlib.metadata
import json
import os
import statistics
import sys
import time
import urllib.request

from e2b import Sandbox

RUNS = int(os.environ.get("E2B_BENCH_RUNS", "200"))
WARMUP = int(os.environ.get("E2B_BENCH_WARMUP", "20"))


def row(name, value, unit, note=""):
    print(f"{name}\t{value}\t{unit}\t{note}", flush=True)


def envd_url(sandbox_id):
    """The agent's own envd address for the sandbox (Connect RPC, JSON)."""
    request = urllib.request.Request(
        os.environ["WRENN_AGENT_URL"] + "/wrenn.agent.v1.AgentService/GetSandbox",
        data=json.dumps({"id": sandbox_id}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["WRENN_AGENT_SECRET"]},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["sandbox"]["envdUrl"]


def timings(sandbox):
    """Milliseconds of each run, and the error that stopped the loop (None)."""
    out = []
    try:
        for i in range(WARMUP + RUNS):
            start = time.perf_counter()
            sandbox.commands.run("true", timeout=30)
            if i >= WARMUP:
                out.append((time.perf_counter() - start) * 1000)
    except Exception as err:  # noqa: BLE001 - reported as a row
        err.completed = i  # calls that had answered before this one
        return out, err
    return out, None


def p99(values):
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def report(name, how, values, error, note):
    if error is not None:
        row(f"e2b-run-true-{name}-failed-after", error.completed, "calls",
            f"{how}: {type(error).__name__}: {str(error)[:120]}")
        return None
    row(f"e2b-run-true-{name}-median", f"{statistics.median(values):.2f}", "ms", f"{how}; {note}")
    row(f"e2b-run-true-{name}-p99", f"{p99(values):.2f}", "ms", how)
    return values


def main():
    note = f"{RUNS} runs after {WARMUP}, one sandbox, e2b {importlib.metadata.version('e2b')}"
    sandbox = Sandbox.create(timeout=900, metadata={"bench": "e2b-proxy"})
    sid = sandbox.sandbox_id
    failed = False
    try:
        paths = [
            ("proxy", "https://49983-<id>.<domain>, TLS", sandbox),
            ("proxy-plain", "plain HTTP to the cp, E2b-Sandbox-Id headers",
             Sandbox.connect(sid, sandbox_url=os.environ["WRENN_API_URL"])),
        ]
        straight_url = envd_url(sid)
        paths.append(("envd", straight_url, Sandbox.connect(sid, sandbox_url=straight_url)))
        results = {}
        for name, how, handle in paths:
            values, error = timings(handle)
            results[name] = report(name, how, values, error, note)
            failed |= error is not None
        if results.get("proxy") and results.get("envd"):
            proxied, straight = results["proxy"], results["envd"]
            row("e2b-run-true-ratio-median", f"{statistics.median(proxied) / statistics.median(straight):.2f}", "x", "proxy / envd; target <= 1.2")
            row("e2b-run-true-ratio-p99", f"{p99(proxied) / p99(straight):.2f}", "x", "proxy / envd")
    finally:
        sandbox.kill()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
