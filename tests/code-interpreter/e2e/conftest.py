"""A code-interpreter-v1 sandbox with its server running, for the SDK tests.
Until the template's start command runs at boot (template start/ready
support), the fixture starts the server itself with the template's own
START_COMMAND through a background command, then polls READY_COMMAND."""
import os
import shlex
import time

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


def ensure_server(sbx):
    """Starts the server unless the template already did; waits for ready."""
    spec = template_env()
    ready = spec["READY_COMMAND"]
    if sbx.commands.run(ready + " || true").exit_code == 0 and _ready(sbx, ready):
        return
    sbx.commands.run(
        f"cd {spec['START_WORKDIR']} && exec {spec['START_COMMAND']} >/tmp/ci-server.log 2>&1",
        background=True, user=spec["START_USER"],
    )
    deadline = int(spec.get("READY_TIMEOUT_SECS", "120")) * 5
    for _ in range(deadline):
        if _ready(sbx, ready):
            return
        time.sleep(0.2)
    log = sbx.commands.run("tail -n 40 /tmp/ci-server.log || true").stdout
    pytest.fail(f"code-interpreter server never ready: {log}")


def _ready(sbx, ready):
    return sbx.commands.run(f"{ready} && echo READY || true").stdout.strip() == "READY"


@pytest.fixture(scope="module")
def sbx():
    from e2b_code_interpreter import Sandbox

    s = Sandbox.create(TEMPLATE, timeout=600, envs={"WRENN_SANDBOX_VAR": "from-create"})
    try:
        ensure_server(s)
        yield s
    finally:
        s.kill()
