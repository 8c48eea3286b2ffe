"""e2b-code-interpreter (PyPI, pinned) against a real Wrenn: a real VM of
the code-interpreter-v1 template, reached over TLS through the traffic proxy."""
import base64

import pytest
from e2b.exceptions import TimeoutException


def test_run_code_when_print_then_stdout(sbx):
    ex = sbx.run_code("print('hello from wrenn')")
    assert ex.logs.stdout == ["hello from wrenn\n"]
    assert ex.error is None


def test_run_code_when_expression_then_text_and_count(sbx):
    first = sbx.run_code("x = 40 + 2\nx")
    assert first.text == "42"
    assert sbx.run_code("x + 1").execution_count == first.execution_count + 1


def test_run_code_when_raise_then_error(sbx):
    ex = sbx.run_code("def f():\n    raise ValueError('boom')\nf()")
    assert ex.error.name == "ValueError"
    assert ex.error.value == "boom"
    assert "ValueError" in ex.error.traceback and "f()" in ex.error.traceback


def test_run_code_when_matplotlib_then_png(sbx):
    ex = sbx.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()")
    pngs = [r.png for r in ex.results if r.png]
    assert pngs, ex
    assert base64.b64decode(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")


def test_run_code_when_dataframe_then_html(sbx):
    ex = sbx.run_code("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': [3, 4]})")
    assert ex.results[0].is_main_result
    assert "<table" in ex.results[0].html and "<td>3</td>" in ex.results[0].html


def test_contexts_when_created_then_separate_state_list_restart_remove(sbx):
    ctx = sbx.create_code_context(cwd="/tmp")
    assert ctx.cwd == "/tmp" and ctx.language == "python"
    sbx.run_code("only_here = 7", context=ctx)
    assert sbx.run_code("only_here", context=ctx).text == "7"
    assert sbx.run_code("only_here").error.name == "NameError"
    assert ctx.id in [c.id for c in sbx.list_code_contexts()]
    sbx.restart_code_context(ctx)
    assert sbx.run_code("only_here", context=ctx).error.name == "NameError"
    sbx.remove_code_context(ctx)
    assert ctx.id not in [c.id for c in sbx.list_code_contexts()]


def test_envs_when_per_run_then_only_that_run(sbx):
    code = "import os; os.environ.get('WRENN_RUN_VAR', 'unset')"
    assert sbx.run_code(code, envs={"WRENN_RUN_VAR": "per-run"}).text == "'per-run'"
    assert sbx.run_code(code).text == "'unset'"


def test_envs_when_set_at_create_then_seen_by_code(sbx):
    ex = sbx.run_code("import os; os.environ.get('WRENN_SANDBOX_VAR', 'unset')")
    assert ex.text == "'from-create'"


def test_run_code_when_timeout_then_raised_and_kernel_usable(sbx):
    with pytest.raises(TimeoutException):
        sbx.run_code("import time\nfor _ in range(10**6): time.sleep(0.1)", timeout=3)
    assert sbx.run_code("'still here'").text == "'still here'"
