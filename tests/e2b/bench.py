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
    for _ in range(WARMUP):
        sandbox.commands.run("true")
    out = []
    for _ in range(RUNS):
        start = time.perf_counter()
        sandbox.commands.run("true")
        out.append((time.perf_counter() - start) * 1000)
    return out


def p99(values):
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main():
    note = f"{RUNS} runs after {WARMUP}, one sandbox, e2b {importlib.metadata.version('e2b')}"
    sandbox = Sandbox.create(timeout=900, metadata={"bench": "e2b-proxy"})
    try:
        proxied = timings(sandbox)
        how = "https://49983-<id>.<domain>, TLS"
        row("e2b-run-true-proxy-median", f"{statistics.median(proxied):.2f}", "ms", f"{how}; {note}")
        row("e2b-run-true-proxy-p99", f"{p99(proxied):.2f}", "ms", how)
        straight_url = envd_url(sandbox.sandbox_id)
        print(f"straight to envd at {straight_url}", file=sys.stderr, flush=True)
        straight = timings(Sandbox.connect(sandbox.sandbox_id, sandbox_url=straight_url, request_timeout=30))
        row("e2b-run-true-envd-median", f"{statistics.median(straight):.2f}", "ms", f"{straight_url}; {note}")
        row("e2b-run-true-envd-p99", f"{p99(straight):.2f}", "ms", straight_url)
        row("e2b-run-true-ratio-median", f"{statistics.median(proxied) / statistics.median(straight):.2f}", "x", "proxy / envd; target <= 1.2")
        row("e2b-run-true-ratio-p99", f"{p99(proxied) / p99(straight):.2f}", "x", "proxy / envd")
    finally:
        sandbox.kill()


if __name__ == "__main__":
    main()
