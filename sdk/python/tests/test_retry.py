"""Retries against a local server that fails on purpose."""

from __future__ import annotations

import asyncio
import email.utils
import json

import pytest

import wrenn
from wrenn import RetryPolicy
from wrenn._async import _transport as async_transport
from wrenn._retry import backoff_delay, parse_retry_after
from wrenn._sync import _transport as sync_transport

from .conftest import Reply, ScriptServer

SANDBOX = {
    "id": "sbx-1",
    "team_id": "t",
    "template": "base",
    "state": "running",
    "reason": "",
    "vcpus": 1,
    "memory_mb": 512,
    "disk_mb": None,
    "metadata": {},
    "host_id": None,
    "created_at": "2026-01-01T00:00:00Z",
    "started_at": None,
    "timeout_at": None,
    "updated_at": "2026-01-01T00:00:00Z",
    "from_snapshot": False,
    "auto_resume": False,
    "public_traffic": True,
    "internet": True,
    "egress_allow": [],
    "egress_deny": [],
    "on_timeout": "kill",
    "timeout_secs": 300,
    "envd_access_token": "tok",
}
CREATED = Reply(201, json.dumps(SANDBOX).encode(), {"Content-Type": "application/json"})


def unavailable(retry_after: str | None = None) -> Reply:
    headers = {"Content-Type": "application/json", "x-request-id": "req-503"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body = {"error": {"code": "agent_unavailable", "message": "try again"}}
    return Reply(503, json.dumps(body).encode(), headers)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []

    def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    async def fake_async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(sync_transport, "sleep", fake_sleep)
    monkeypatch.setattr(async_transport, "sleep", fake_async_sleep)
    return recorded


def client(server: ScriptServer, retries: int = 3) -> wrenn.Wrenn:
    return wrenn.Wrenn("wrn_test", server.url, retry=RetryPolicy(max_retries=retries))


def test_create_retries_503_twice_then_succeeds_with_one_idempotency_key(
    server: ScriptServer, sleeps: list[float]
) -> None:
    server.replies = [unavailable(), unavailable(), CREATED]
    sbx = wrenn.Sandbox.create(client=client(server))
    assert sbx.id == "sbx-1"
    assert sbx.envd_access_token == "tok"
    keys = {s.headers["idempotency-key"] for s in server.seen}
    assert len(server.seen) == 3
    assert len(keys) == 1
    assert len(sleeps) == 2


def test_each_create_call_has_its_own_idempotency_key(server: ScriptServer) -> None:
    server.replies = [CREATED]
    c = client(server)
    wrenn.Sandbox.create(client=c)
    wrenn.Sandbox.create(client=c)
    assert server.seen[0].headers["idempotency-key"] != server.seen[1].headers["idempotency-key"]


def test_retry_after_seconds_is_honoured(server: ScriptServer, sleeps: list[float]) -> None:
    server.replies = [unavailable("2"), CREATED]
    wrenn.Sandbox.create(client=client(server))
    assert sleeps == [2.0]


def test_retry_after_http_date_is_honoured() -> None:
    when = email.utils.formatdate(1_000_003, usegmt=True)
    assert parse_retry_after(when, now=1_000_000) == pytest.approx(3.0)
    assert parse_retry_after("garbage") is None


def test_retries_are_bounded_and_the_last_error_raises(
    server: ScriptServer, sleeps: list[float]
) -> None:
    server.replies = [unavailable()]
    with pytest.raises(wrenn.SandboxError) as info:
        wrenn.Sandbox.create(client=client(server, retries=3))
    assert len(server.seen) == 4
    assert info.value.status == 503
    assert info.value.code == "agent_unavailable"
    assert info.value.request_id == "req-503"


def test_non_idempotent_post_is_not_retried_on_503(
    server: ScriptServer, sleeps: list[float]
) -> None:
    server.replies = [unavailable(), Reply(200, json.dumps(SANDBOX).encode())]
    sbx = wrenn.Sandbox(wrenn.models.Sandbox.model_validate(SANDBOX), "tok", client(server))
    with pytest.raises(wrenn.SandboxError):
        sbx.pause()
    assert len(server.seen) == 1
    assert sleeps == []


def test_429_is_retried_even_for_a_post(server: ScriptServer, sleeps: list[float]) -> None:
    limited = Reply(
        429,
        b'{"error":{"code":"rate_limited","message":"slow down"}}',
        {"Retry-After": "1"},
    )
    server.replies = [limited, Reply(200, json.dumps(SANDBOX).encode())]
    sbx = wrenn.Sandbox(wrenn.models.Sandbox.model_validate(SANDBOX), "tok", client(server))
    assert sbx.pause().id == "sbx-1"
    assert sleeps == [1.0]


def test_get_retries_502_and_504(server: ScriptServer, sleeps: list[float]) -> None:
    server.replies = [Reply(502), Reply(504), Reply(200, json.dumps(SANDBOX).encode())]
    sbx = wrenn.Sandbox(wrenn.models.Sandbox.model_validate(SANDBOX), "tok", client(server))
    assert sbx.get_info().state == "running"
    assert len(server.seen) == 3


def test_connection_refused_is_retried_then_raises(sleeps: list[float]) -> None:
    c = wrenn.Wrenn("k", "http://127.0.0.1:9", retry=RetryPolicy(max_retries=2))
    with pytest.raises(wrenn.ConnectionError):
        c.templates.list()
    assert len(sleeps) == 2


def test_full_jitter_stays_in_the_window() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    for attempt in range(6):
        d = backoff_delay(policy, attempt, None)
        assert 0 <= d <= min(4.0, 0.5 * 2**attempt)
    assert backoff_delay(policy, 0, 100.0) == 4.0


def test_deadline_stops_retries(server: ScriptServer, sleeps: list[float]) -> None:
    server.replies = [unavailable("5")]
    c = wrenn.Wrenn("k", server.url, retry=RetryPolicy(max_retries=5, max_delay=10, deadline=4))
    with pytest.raises(wrenn.SandboxError):
        c.templates.list()
    assert len(server.seen) == 1


def test_async_create_retries_with_one_key(server: ScriptServer, sleeps: list[float]) -> None:
    server.replies = [unavailable(), CREATED]

    async def go() -> str:
        c = wrenn.AsyncWrenn("k", server.url)
        sbx = await wrenn.AsyncSandbox.create(client=c)
        await c.close()
        return sbx.id

    assert asyncio.run(go()) == "sbx-1"
    assert len({s.headers["idempotency-key"] for s in server.seen}) == 1
    assert len(server.seen) == 2
