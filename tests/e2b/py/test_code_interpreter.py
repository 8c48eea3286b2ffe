"""e2b-code-interpreter (the latest release; suite e2b-py only): Python
code run in the `code-interpreter-v1` template through port 49999."""
import pytest

from conftest import RUN


@pytest.mark.needs("e2b-api", "proxy", "code-interpreter")
def test_code_interpreter_when_python_then_result(make_sandbox):
    from e2b_code_interpreter import Sandbox as CodeSandbox

    code = CodeSandbox.create(metadata={"run": RUN}, timeout=180)
    try:
        execution = code.run_code("x = 40 + 2\nx")
        assert execution.text == "42"
    finally:
        code.kill()
