"""The E2B-compatible REST API driven by the real `e2b` SDK (2.63, or 2.45
with E2B_SDK=2.4x: rest.sh runs both) against a real Wrenn (a
`wrenn-agent` booting QEMU VMs and a `wrenn-cp`), over plain HTTP with
E2B_API_URL=<cp>/e2b. REST only: the calls that reach envd go through the
sandbox proxy and are the full e2b suite's (tests/e2b/run.sh)."""
import datetime
import os
import time
import uuid

import pytest

from rest_stack import RestStack

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN = uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def stack():
    wrenn = RestStack(ROOT).start()
    try:
        yield wrenn
    finally:
        wrenn.stop()


@pytest.fixture(scope="session")
def e2b(stack):
    """The `e2b` module, configured by environment only (as a user would)."""
    os.environ["E2B_API_URL"] = f"{stack.cp_url}/e2b"
    # The 2.4x SDKs refuse a key that is not e2b_<hex>: this one is.
    os.environ["E2B_API_KEY"] = stack.user(f"ada-{RUN}@example.com")
    os.environ.pop("E2B_DOMAIN", None)
    import e2b as module
    return module


@pytest.fixture
def sandbox(e2b):
    sbx = e2b.Sandbox.create("base", timeout=120, metadata={"run": RUN})
    yield sbx
    e2b.Sandbox.kill(sbx.sandbox_id)


def test_create_when_metadata_envs_timeout_then_info_matches(e2b, stack):
    before = datetime.datetime.now(datetime.timezone.utc)
    sbx = e2b.Sandbox.create("base", timeout=90, metadata={"run": RUN, "who": "ada"},
                             envs={"GREETING": "hello"})
    try:
        info = sbx.get_info()
        assert info.sandbox_id == sbx.sandbox_id
        assert info.template_id == "base"
        assert info.metadata == {"run": RUN, "who": "ada"}
        assert info.state == e2b.SandboxState.RUNNING
        assert info.cpu_count >= 1 and info.memory_mb >= 128
        assert before - datetime.timedelta(seconds=5) <= info.started_at
        left = (info.end_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        assert 30 < left <= 95, left
        # The token the SDK will send to envd is the one the host gave envd.
        on_host = stack.agent_sandbox(sbx.sandbox_id)
        assert on_host["envdAccessToken"] == sbx._envd_access_token
    finally:
        assert sbx.kill() is True
    assert e2b.Sandbox.kill(sbx.sandbox_id) is False
    with pytest.raises(e2b.SandboxException):
        e2b.Sandbox.get_info(sbx.sandbox_id)
    assert stack.agent_sandbox(sbx.sandbox_id) is None


def test_set_timeout_when_longer_then_end_moves(e2b, sandbox):
    sandbox.set_timeout(1800)
    left = (sandbox.get_info().end_at - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 1700 < left <= 1800, left


def test_pause_then_connect_when_paused_then_running_same_token(e2b, sandbox, stack):
    token = sandbox._envd_access_token
    assert sandbox.pause() is not False
    assert sandbox.get_info().state == e2b.SandboxState.PAUSED
    assert stack.agent_sandbox(sandbox.sandbox_id)["state"] == "SANDBOX_STATE_PAUSED"

    again = e2b.Sandbox.connect(sandbox.sandbox_id, timeout=120)

    assert again.sandbox_id == sandbox.sandbox_id
    assert again.get_info().state == e2b.SandboxState.RUNNING
    assert again._envd_access_token == token
    assert stack.agent_sandbox(sandbox.sandbox_id)["envdAccessToken"] == token


def test_connect_when_running_then_deadline_not_shortened(e2b, sandbox):
    sandbox.set_timeout(1800)
    before = sandbox.get_info().end_at

    e2b.Sandbox.connect(sandbox.sandbox_id, timeout=60)

    assert sandbox.get_info().end_at >= before


def test_list_when_filtered_and_paged_then_every_sandbox_once(e2b):
    tag = uuid.uuid4().hex[:8]
    made = [e2b.Sandbox.create("base", timeout=120, metadata={"run": RUN, "list": tag})
            for _ in range(3)]
    try:
        made[0].pause()
        query = e2b.SandboxQuery(metadata={"list": tag})
        pages, seen = 0, []
        paginator = e2b.Sandbox.list(query=query, limit=2)
        while paginator.has_next:
            seen += [s.sandbox_id for s in paginator.next_items()]
            pages += 1
        assert sorted(seen) == sorted(s.sandbox_id for s in made)
        assert pages == 2
        running = e2b.Sandbox.list(
            query=e2b.SandboxQuery(metadata={"list": tag}, state=[e2b.SandboxState.RUNNING])
        ).next_items()
        assert sorted(s.sandbox_id for s in running) == sorted(s.sandbox_id for s in made[1:])
        assert e2b.Sandbox.list(query=e2b.SandboxQuery(metadata={"list": "none-" + tag})).next_items() == []
    finally:
        for sbx in made:
            e2b.Sandbox.kill(sbx.sandbox_id)


def test_metrics_when_running_then_a_series_in_time(e2b, sandbox):
    # The host samples envd every 5 s: the first sample follows the boot.
    metrics = []
    for _ in range(30):
        metrics = sandbox.get_metrics()
        if metrics:
            break
        time.sleep(1)
    assert metrics, "no metrics sample 30 s after the boot"
    assert all(m.cpu_count >= 1 and m.mem_total > 0 for m in metrics)
    stamps = [m.timestamp for m in metrics]
    assert stamps == sorted(stamps)
    first = stamps[0]
    assert [m.timestamp for m in sandbox.get_metrics(start=first, end=first)] == [first]


def test_pause_when_memory_false_then_paused_and_connect_boots_it(e2b, sandbox, stack):
    assert sandbox.pause(keep_memory=False) is not False
    assert sandbox.get_info().state == e2b.SandboxState.PAUSED

    again = e2b.Sandbox.connect(sandbox.sandbox_id, timeout=120)

    assert again.get_info().state == e2b.SandboxState.RUNNING
    assert stack.agent_sandbox(sandbox.sandbox_id)["state"] == "SANDBOX_STATE_RUNNING"


def test_network_when_updated_then_whole_policy_replaced(e2b, sandbox):
    sandbox.update_network({"allow_out": ["1.1.1.1/32"], "deny_out": ["0.0.0.0/0"]})
    assert sandbox.get_info().allow_internet_access is False

    sandbox.update_network({})

    assert sandbox.get_info().allow_internet_access is True


def test_snapshot_when_made_then_listed_then_deleted(e2b, sandbox):
    snapshot = sandbox.create_snapshot()
    try:
        listed = e2b.Sandbox.list_snapshots(sandbox_id=sandbox.sandbox_id).next_items()
        assert [s.snapshot_id for s in listed] == [snapshot.snapshot_id]
        assert sandbox.get_info().state == e2b.SandboxState.RUNNING
    finally:
        assert e2b.Sandbox.delete_snapshot(snapshot.snapshot_id) is True
    assert e2b.Sandbox.delete_snapshot(snapshot.snapshot_id) is False
    assert e2b.Sandbox.list_snapshots(sandbox_id=sandbox.sandbox_id).next_items() == []


def test_other_team_when_any_call_then_not_found(e2b, sandbox, stack):
    other = stack.user(f"eve-{RUN}@example.com")
    with pytest.raises(e2b.SandboxException):
        e2b.Sandbox.get_info(sandbox.sandbox_id, api_key=other)
    assert e2b.Sandbox.kill(sandbox.sandbox_id, api_key=other) is False
    assert e2b.Sandbox.list(api_key=other).next_items() == []
    assert sandbox.get_info().state == e2b.SandboxState.RUNNING


def test_wrong_key_when_create_then_authentication_error(e2b):
    with pytest.raises(e2b.AuthenticationException):
        e2b.Sandbox.create("base", api_key="e2b_" + "0" * 40)
