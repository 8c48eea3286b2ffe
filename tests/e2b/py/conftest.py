"""The e2b SDK suites against a real Wrenn over TLS (tests/e2b/run.sh starts
it and sets E2B_DOMAIN, E2B_API_KEY, SSL_CERT_FILE, WRENN_API_URL,
WRENN_API_KEY, WRENN_E2B_CA, E2B_SUITE).

A test names the features it needs with `@pytest.mark.needs(...)`; those
listed in ../pending.json are not merged yet and make the test an expected
failure, strict: it must fail, and an unexpected pass fails the suite (then
delete the entry). Nothing is skipped.

The closing line is `<E2B_SUITE>: N passed, M failed, X xfailed`."""
import json
import os
import pathlib
import ssl
import time
import uuid

import httpx
import pytest

PENDING = {
    k: v
    for k, v in json.loads((pathlib.Path(__file__).parent.parent / "pending.json").read_text()).items()
    if not k.startswith("_")
}
SUITE = os.environ.get("E2B_SUITE", "e2b-py")
DOMAIN = os.environ["E2B_DOMAIN"]
CA = os.environ["WRENN_E2B_CA"]
RUN = uuid.uuid4().hex[:10]


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*features): features of pending.json the test needs")


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("needs")
        if marker is None:
            continue
        unknown = [f for f in marker.args if f not in PENDING and f not in KNOWN_FEATURES]
        assert not unknown, f"{item.nodeid}: unknown features {unknown}"
        missing = [f for f in marker.args if f in PENDING]
        if missing:
            reason = "; ".join(f"{f}: {PENDING[f]}" for f in missing)
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


KNOWN_FEATURES = {"e2b-api", "proxy", "fork", "snapshots", "fs-pause", "auto-resume", "code-interpreter", "template-build"}


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    count = lambda key: len([r for r in stats.get(key, []) if getattr(r, "when", "call") in ("call", "setup")])
    passed, failed = count("passed"), count("failed") + count("error") + count("xpassed")
    xfailed = count("xfailed")
    terminalreporter.write_line(f"{SUITE}: {passed} passed, {failed} failed, {xfailed} xfailed (pending features, see tests/e2b/pending.json)")


@pytest.fixture(scope="session")
def https():
    """An HTTPS client trusting only the suite's CA (h2 by ALPN)."""
    with httpx.Client(verify=ssl.create_default_context(cafile=CA), http2=True, timeout=30) as client:
        yield client


@pytest.fixture
def make_sandbox():
    """Sandbox.create(...) with the run's metadata; every one made is killed."""
    from e2b import Sandbox

    made = []

    def make(**kwargs):
        metadata = {"suite": SUITE, "run": RUN, **kwargs.pop("metadata", {})}
        sandbox = Sandbox.create(metadata=metadata, timeout=kwargs.pop("timeout", 180), **kwargs)
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        try:
            sandbox.kill()
        except Exception:
            pass


@pytest.fixture
def sandbox(make_sandbox):
    return make_sandbox()


def until(check, timeout=30, interval=0.25):
    """The first truthy result of `check()` within `timeout` seconds (the
    last exception, or an AssertionError, otherwise). Waits for a guest
    service to come up, never a test's speed bound."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as err:  # noqa: BLE001 - retried until the deadline
            last = err
        time.sleep(interval)
    if last:
        raise last
    raise AssertionError(f"not true within {timeout} s: {check}")
