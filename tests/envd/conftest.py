"""Fixtures: an e2b `Sandbox` in debug mode (envd at localhost:49983)."""
import os
import uuid

import httpx
import pytest

os.environ.setdefault("E2B_DEBUG", "true")

from e2b import Sandbox  # noqa: E402

ENVD_URL = os.environ.get("ENVD_URL", "http://localhost:49983")


@pytest.fixture(scope="session")
def sandbox():
    sb = Sandbox.create()
    yield sb


@pytest.fixture(scope="session")
def envd():
    with httpx.Client(base_url=ENVD_URL, timeout=30) as client:
        yield client


@pytest.fixture
def workdir(sandbox):
    """A fresh directory under the user's home (relative path)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    sandbox.files.make_dir(name)
    yield name
    try:
        sandbox.files.remove(name)
    except Exception:
        pass
