"""A code-interpreter-v1 sandbox for the SDK tests. The template's start
command (template.env START_COMMAND, run by envd) is ready in the template's
memory snapshot, or started by the agent before a cold-boot create answers:
the server must answer at once, with nothing started by the test."""
import os
import shlex

import pytest

TEMPLATE = "code-interpreter-v1"
TEMPLATE_ENV = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "images", "templates", TEMPLATE, "template.env"
)


def template_env():
    out = {}
    with open(TEMPLATE_ENV) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = shlex.split(v)[0] if v else ""
    return out


@pytest.fixture(scope="module")
def sbx():
    from e2b_code_interpreter import Sandbox

    s = Sandbox.create(TEMPLATE, timeout=600, envs={"WRENN_SANDBOX_VAR": "from-create"})
    try:
        ready = template_env()["READY_COMMAND"]
        check = s.commands.run(f"{ready} && echo READY || true")
        if check.stdout.strip() != "READY":
            log = s.commands.run("tail -n 40 /var/log/wrenn/start.log 2>&1 || true", user="root").stdout
            pytest.fail(f"the code-interpreter server was not ready right after create: {log}")
        yield s
    finally:
        s.kill()
