"""The server on the host with real ipykernel kernels (no VM): the routes,
streaming, contexts, env vars and interrupt-on-disconnect, read with the
SDK's parser."""
import base64
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from e2b_code_interpreter.models import Execution, parse_output

from conftest import SERVER_PATH


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=SERVER_PATH, HOME=str(tmp_path_factory.mktemp("home")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "wrenn_ci", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/health").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.1)
    else:
        pytest.fail("server never became ready")
    yield base
    proc.terminate()
    proc.wait(10)


def run(url, code, timeout=60, **body):
    ex = Execution()
    with httpx.stream("POST", url + "/execute", json={"code": code, **body}, timeout=timeout) as res:
        assert res.status_code == 200, res.read()
        assert res.headers["content-type"].startswith("application/x-ndjson")
        for line in res.iter_lines():
            if line:
                parse_output(ex, line)
    return ex


def test_execute_when_print_and_value_then_stdout_result_count(url):
    ex = run(url, "print('hello')\n40 + 2")
    assert ex.logs.stdout == ["hello\n"]
    assert ex.text == "42"
    assert isinstance(ex.execution_count, int) and ex.execution_count >= 1
    assert run(url, "1").execution_count == ex.execution_count + 1


def test_execute_when_raise_then_error(url):
    ex = run(url, "raise ValueError('boom')")
    assert ex.error.name == "ValueError"
    assert ex.error.value == "boom"
    assert "ValueError" in ex.error.traceback


def test_execute_when_plot_then_png(url):
    ex = run(url, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    pngs = [r.png for r in ex.results if r.png]
    assert pngs and base64.b64decode(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")


def test_execute_when_dataframe_then_html(url):
    ex = run(url, "import pandas as pd\npd.DataFrame({'a': [1, 2]})")
    assert "<table" in ex.results[0].html


def test_execute_when_env_vars_then_only_that_run(url):
    code = "import os; os.environ.get('WRENN_T', 'unset')"
    assert run(url, code, env_vars={"WRENN_T": "v1"}).text == "'v1'"
    assert run(url, code).text == "'unset'"


def test_contexts_when_created_then_state_kept_listed_restarted_removed(url):
    ctx = httpx.post(url + "/contexts", json={"language": "python", "cwd": "/tmp"}, timeout=60).json()
    assert ctx["language"] == "python" and ctx["cwd"] == "/tmp"
    run(url, "x = 5", context_id=ctx["id"])
    assert run(url, "x", context_id=ctx["id"]).text == "5"
    assert run(url, "import os; os.getcwd()", context_id=ctx["id"]).text == "'/tmp'"
    assert run(url, "x").error.name == "NameError"
    assert ctx["id"] in [c["id"] for c in httpx.get(url + "/contexts").json()]
    assert httpx.post(url + f"/contexts/{ctx['id']}/restart", timeout=60).status_code == 204
    assert run(url, "x", context_id=ctx["id"]).error.name == "NameError"
    assert httpx.delete(url + f"/contexts/{ctx['id']}", timeout=60).status_code == 204
    assert ctx["id"] not in [c["id"] for c in httpx.get(url + "/contexts").json()]
    res = httpx.post(url + "/execute", json={"code": "1", "context_id": ctx["id"]})
    assert res.status_code == 404


def test_execute_when_bad_requests_then_4xx(url):
    assert httpx.post(url + "/execute", json={"code": 1}).status_code == 400
    assert httpx.post(url + "/execute", json={"code": "1", "language": "cobol"}).status_code == 400
    assert httpx.post(url + "/execute", json={"code": "1", "language": "python", "context_id": "x"}).status_code == 400


def test_execute_when_client_times_out_then_kernel_interrupted(url):
    with pytest.raises(httpx.ReadTimeout):
        run(url, "import time\nfor _ in range(10**6): time.sleep(0.1)", timeout=1.5)
    # Without the interrupt the kernel would stay busy for a day and this
    # run would time out instead of answering.
    ex = run(url, "'after'")
    assert ex.text == "'after'"
