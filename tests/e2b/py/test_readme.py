"""The README's example ("Use the E2B SDK with Wrenn") runs as printed,
with only the variables the README tells a user to set."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import DOMAIN

README = pathlib.Path(__file__).resolve().parents[3] / "README.md"


def example():
    text = README.read_text()
    found = re.search(r"<!-- readme-e2b-example:[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert found, "README.md lost its marked e2b example"
    return found.group(1)


@pytest.mark.needs("e2b-api", "proxy")
def test_readme_example_when_run_then_prints_what_it_says():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WRENN_", "E2B_"))}
    env.update(E2B_DOMAIN=DOMAIN, E2B_API_KEY=os.environ["E2B_API_KEY"], SSL_CERT_FILE=os.environ["SSL_CERT_FILE"])
    if os.environ.get("E2B_VALIDATE_API_KEY"):
        env["E2B_VALIDATE_API_KEY"] = os.environ["E2B_VALIDATE_API_KEY"]
    out = subprocess.run([sys.executable, "-c", example()], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["42", "hello from Wrenn"], out.stdout
    assert re.fullmatch(rf"port 3000 is at https://3000-[a-z0-9-]+\.{re.escape(DOMAIN)}", lines[2]), lines
