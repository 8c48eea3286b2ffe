"""Sandbox.create("code-interpreter-v1") -> first run_code("1+1") result,
median of 10, through the e2b-code-interpreter SDK (run.sh bench sets the
stack's E2B_* variables). Where the template's start command does not run
at boot yet, the server is started by a command and that time is counted
(and reported apart). Prints `name<TAB>value<TAB>unit<TAB>note` rows."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from conftest import TEMPLATE, ensure_server  # noqa: E402

from e2b_code_interpreter import Sandbox  # noqa: E402

N = int(os.environ.get("CI_BENCH_N", "10"))


def once():
    t0 = time.perf_counter()
    sbx = Sandbox.create(TEMPLATE, timeout=900)
    try:
        t1 = time.perf_counter()
        ensure_server(sbx)
        t2 = time.perf_counter()
        ex = sbx.run_code("1+1")
        t3 = time.perf_counter()
        assert ex.text == "2", ex
    finally:
        sbx.kill()
    return (t3 - t0) * 1000, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000


def main():
    once()  # first use on this stack (template snapshot, caches) not counted
    rows = [once() for _ in range(N)]
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    note = f"median of {N}, e2b-code-interpreter SDK over TLS"
    print(f"code-interpreter-create-to-first-result\t{med[0]:.0f}\tms\t{note}")
    print(f"code-interpreter-create\t{med[1]:.0f}\tms\t{note}: Sandbox.create alone")
    print(f"code-interpreter-server-ready\t{med[2]:.0f}\tms\t{note}: until READY_COMMAND passes (0-ish when the snapshot holds the server)")
    print(f"code-interpreter-first-run-code\t{med[3]:.0f}\tms\t{note}: run_code('1+1') alone")


if __name__ == "__main__":
    main()
