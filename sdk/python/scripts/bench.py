"""Issue #13's figures for this SDK, as JSON lines (run by scripts/bench.sh).

Against the running sandbox ``$WRENN_BENCH_SANDBOX``: run("echo hi") median
and p99 (n=200 after 20 warm-up runs), create -> first command (n=10), a
10 MiB upload and download (median of 5).
"""

from __future__ import annotations

import json
import os
import statistics
import time

from wrenn import Sandbox, Wrenn

RUNS = int(os.environ.get("SDK_BENCH_RUNS", "200"))


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def emit(**fields: object) -> None:
    print(json.dumps({"sdk": "python", **fields}), flush=True)


def main() -> None:
    with Wrenn() as client:
        sbx = Sandbox.connect(os.environ["WRENN_BENCH_SANDBOX"], client=client)
        for _ in range(20):
            sbx.commands.run("echo hi")
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            sbx.commands.run("echo hi")
            times.append((time.perf_counter() - t0) * 1000)
        emit(
            figure="run_echo",
            median_ms=round(statistics.median(times), 2),
            p99_ms=round(p99(times), 2),
            n=RUNS,
        )

        firsts = []
        for _ in range(10):
            t0 = time.perf_counter()
            fresh = Sandbox.create(client=client)
            try:
                fresh.commands.run("true")
                firsts.append((time.perf_counter() - t0) * 1000)
            finally:
                fresh.kill()
        emit(figure="create_first_command", median_ms=round(statistics.median(firsts), 2), n=10)

        payload = os.urandom(10 * 1024 * 1024)
        ups, downs = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            sbx.files.write("/tmp/bench-10mib", payload)
            ups.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            back = sbx.files.read("/tmp/bench-10mib", format="bytes")
            downs.append((time.perf_counter() - t0) * 1000)
            assert back == payload
        emit(
            figure="file_10mib",
            upload_ms=round(statistics.median(ups), 2),
            download_ms=round(statistics.median(downs), 2),
        )

        transports = os.environ.get("WRENN_BENCH_TRANSPORTS")
        if transports:
            # The data-plane choice: this SDK's Connect framing over httpx vs
            # connect-python on the same sandbox, through the same proxy,
            # appended as JSON lines to the file $WRENN_BENCH_TRANSPORTS.
            from bench_transport import compare

            token = sbx.envd_access_token
            with open(transports, "a") as out:
                for name, fig in compare(client.config.base_url, sbx.id, token, 100).items():
                    line = {"sdk": "python", "figure": "transport_run_echo", "transport": name}
                    out.write(json.dumps({**line, **fig}) + "\n")


if __name__ == "__main__":
    main()
