"""Compare data-plane transports on ``run("echo hi")``: this SDK vs connect-python.

Usage: python scripts/bench_transport.py URL [SANDBOX_ID ACCESS_TOKEN] [N]

URL is envd itself (``envd --no-init``) or the control plane's base URL (then
give the sandbox id and envd token: the requests carry the proxy headers).
Prints one JSON line per transport: median and p99 in ms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from connectrpc.client import ConnectClientSync
from connectrpc.method import IdempotencyLevel, MethodInfo

from wrenn._config import Config
from wrenn._proto.process import process_pb2 as pb
from wrenn._sync._envd import Envd
from wrenn._sync._transport import Transport
from wrenn._sync.commands import Commands

START = MethodInfo(
    name="Start",
    service_name="process.Process",
    input=pb.StartRequest,
    output=pb.StartResponse,
    idempotency_level=IdempotencyLevel.UNKNOWN,
)


def summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    n = len(times)
    return {
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(n - 1, int(n * 0.99))], 2),
        "n": n,
    }


def measure(fns: dict[str, Callable[[], object]], n: int) -> dict[str, dict[str, float]]:
    """Interleaved: each round runs every transport once, in alternating order,
    so that a change of load on the machine hits all of them alike."""
    for fn in fns.values():
        for _ in range(10):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    for i in range(n):
        for name, fn in order if i % 2 == 0 else reversed(order):
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: summary(t) for name, t in times.items()}


def compare(url: str, sandbox_id: str, token: str | None, n: int) -> dict[str, dict[str, float]]:
    """Median and p99 of run("echo hi") per transport."""
    headers = {"E2b-Sandbox-Id": sandbox_id, "E2b-Sandbox-Port": "49983"}
    if token:
        headers["X-Access-Token"] = token

    cmds = Commands(Envd(Transport(Config(api_key="-", base_url=url)), sandbox_id, token))

    client = ConnectClientSync(url, send_compression=None, accept_compression=[])
    request = pb.StartRequest(
        process=pb.ProcessConfig(cmd="/bin/bash", args=["-l", "-c", "echo hi"])
    )

    def run_connect() -> None:
        out = b""
        for resp in client.execute_server_stream(request=request, method=START, headers=headers):
            if resp.event.WhichOneof("event") == "data":
                out += resp.event.data.stdout
        assert out == b"hi\n", out

    return measure(
        {"wrenn-httpx": lambda: cmds.run("echo hi"), "connect-python-0.9": run_connect}, n
    )


def main() -> None:
    url = sys.argv[1]
    sandbox_id = sys.argv[2] if len(sys.argv) > 3 else "local"
    token = sys.argv[3] if len(sys.argv) > 3 else None
    n = int(sys.argv[-1]) if sys.argv[-1].isdigit() else 200
    for name, figures in compare(url, sandbox_id, token, n).items():
        print(json.dumps({"transport": name, **figures}))


if __name__ == "__main__":
    main()
