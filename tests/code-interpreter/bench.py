"""Sandbox.create("code-interpreter-v1") -> first run_code("1+1") result,
median of 10, through the e2b-code-interpreter SDK (run.sh bench sets the
stack's E2B_* variables; it waits for the agent's template snapshot of
code-interpreter-v1 first, whose server and kernel are ready in it).
Prints `name<TAB>value<TAB>unit<TAB>note` rows."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from conftest import TEMPLATE  # noqa: E402

from e2b_code_interpreter import Sandbox  # noqa: E402

N = int(os.environ.get("CI_BENCH_N", "10"))


def once():
    t0 = time.perf_counter()
    sbx = Sandbox.create(TEMPLATE, timeout=900)
    try:
        t1 = time.perf_counter()
        ex = sbx.run_code("1+1")
        t2 = time.perf_counter()
        assert ex.text == "2", ex
    finally:
        sbx.kill()
    return (t2 - t0) * 1000, (t1 - t0) * 1000, (t2 - t1) * 1000


def main():
    once()  # first use on this stack (template snapshot, caches) not counted
    rows = [once() for _ in range(N)]
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    note = f"median of {N}, e2b-code-interpreter SDK over TLS"
    print(f"code-interpreter-create-to-first-result\t{med[0]:.0f}\tms\t{note}")
    print(f"code-interpreter-create\t{med[1]:.0f}\tms\t{note}: Sandbox.create alone")
    print(f"code-interpreter-first-run-code\t{med[2]:.0f}\tms\t{note}: run_code('1+1') alone")


if __name__ == "__main__":
    main()
