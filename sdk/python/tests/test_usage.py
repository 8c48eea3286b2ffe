"""Pools and usage: ``pool()``, ``usage()``, ``usage_export()``, ``invoice()``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import BaseModel

import wrenn
from wrenn import _models, _usage
from wrenn._config import RetryPolicy

from .conftest import Reply, ScriptServer

AMOUNTS = {"vcpus": 2, "memory_mib": 1024, "storage_mib": 2048, "running": 1, "paused": 0}
# What docs/api.md's "Pools and usage" shows for a team on plan "tiny" and
# for a team without any plan (no deployment default): plan and size null.
POOL_TINY = {
    "team_id": "team-1",
    "plan": {
        "name": "tiny",
        "vcpus": 2,
        "memory_gib": 2,
        "storage_gib": 10,
        "max_running": 1,
        "max_paused": 2,
        "price_cents": 900,
        "period": "month",
        "overflow": "refuse",
        "burst_vcpus": 0,
        "burst_cents_per_vcpu_hour": 0,
    },
    "size": {"vcpus": 2, "memory_mib": 2048, "storage_mib": 10240, "running": 1, "paused": 2},
    "used": AMOUNTS,
    "over": False,
    "updated_at": "2026-12-01T19:00:00Z",
}
POOL_NONE = {"team_id": "team-2", "plan": None, "size": None, "used": AMOUNTS, "over": False}
ENTRY = {
    "key": "sbx-1",
    "template": "base",
    "running_seconds": 12.5,
    "paused_seconds": 0.0,
    "vcpu_seconds": 12.5,
    "memory_gib_seconds": 6.25,
    "storage_gib_hours": 0.0,
    "guest_cpu_seconds": 3.5,
}
USAGE = {
    "by": "sandbox",
    "start": "2026-11-01T00:00:00Z",
    "end": "2026-12-01T00:00:00Z",
    "entries": [ENTRY],
}
INVOICE = {
    "plan": "tiny",
    "period": "month",
    "start": "2026-11-01T00:00:00Z",
    "end": "2026-12-01T00:00:00Z",
    "price_cents": 900,
    "burst_vcpu_hours": 0.0,
    "burst_cents_per_vcpu_hour": 0,
    "burst_cents": 0,
    "total_cents": 900,
}


def interval(i: int) -> dict[str, object]:
    return {
        "sandbox_id": f"sbx-{i}",
        "template": "base",
        "host_id": "host-1",
        "phase": "running",
        "vcpus": 1,
        "memory_mib": 512,
        "storage_mib": 1024,
        "started_at": "2026-12-01T19:00:00Z",
        "ended_at": None if i == 0 else "2026-12-01T19:05:00Z",
    }


def ok(body: object) -> Reply:
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def query(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


def client(server: ScriptServer, retries: int = 0) -> wrenn.Wrenn:
    return wrenn.Wrenn("wrn_test", server.url, retry=RetryPolicy(max_retries=retries))


def test_pool_of_a_team_on_a_plan(server: ScriptServer) -> None:
    server.replies = [ok(POOL_TINY)]
    pool = client(server).pool()
    assert server.seen[0].method == "GET"
    assert server.seen[0].path == "/v1/pool"
    assert server.seen[0].headers["authorization"] == "Bearer wrn_test"
    assert pool.plan is not None and pool.plan.name == "tiny"
    assert pool.size is not None and pool.size.running == 1
    assert pool.used.memory_mib == 1024
    assert pool.over is False


def test_pool_of_a_team_without_a_plan(server: ScriptServer) -> None:
    server.replies = [ok(POOL_NONE)]
    pool = client(server).pool()
    assert pool.plan is None
    assert pool.size is None
    assert pool.used.running == 1


def test_usage_sends_by_and_an_rfc3339_range(server: ScriptServer) -> None:
    server.replies = [ok(USAGE)]
    start = datetime(2026, 11, 1)  # naive: UTC
    end = datetime(2026, 12, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    usage = client(server).usage("sandbox", start=start, end=end)
    seen = server.seen[0]
    assert urlsplit(seen.path).path == "/v1/usage"
    assert query(seen.path) == {
        "by": ["sandbox"],
        "start": ["2026-11-01T00:00:00+00:00"],
        "end": ["2026-12-01T01:00:00+01:00"],
    }
    assert usage.by == "sandbox"
    assert usage.entries[0].key == "sbx-1"
    assert usage.entries[0].running_seconds == 12.5


def test_usage_defaults_to_days_and_passes_strings_through(server: ScriptServer) -> None:
    server.replies = [ok({**USAGE, "by": "day", "entries": []})]
    client(server).usage(end="2026-12-01T00:00:00Z")
    assert query(server.seen[0].path) == {"by": ["day"], "end": ["2026-12-01T00:00:00Z"]}


def test_usage_range_too_long_is_a_validation_error(server: ScriptServer) -> None:
    msg = "the range is at most 400 days"
    server.replies = [
        Reply(422, json.dumps({"error": {"code": "validation_failed", "message": msg}}).encode())
    ]
    with pytest.raises(wrenn.ValidationError) as e:
        client(server).usage(start="2020-01-01T00:00:00Z")
    assert e.value.message == msg


def test_invoice(server: ScriptServer) -> None:
    server.replies = [ok(INVOICE)]
    inv = client(server).invoice(start="2026-11-01T00:00:00Z")
    assert urlsplit(server.seen[0].path).path == "/v1/usage/invoice"
    assert query(server.seen[0].path) == {"start": ["2026-11-01T00:00:00Z"]}
    assert inv.total_cents == 900
    assert inv.plan == "tiny"


def test_invoice_without_a_plan_has_plan_none(server: ScriptServer) -> None:
    server.replies = [ok({**INVOICE, "plan": None, "price_cents": 0, "total_cents": 0})]
    assert client(server).invoice().plan is None
    assert query(server.seen[0].path) == {}


def test_usage_export_asks_for_json_lines_and_parses_each(server: ScriptServer) -> None:
    lines = "".join(json.dumps(interval(i)) + "\n" for i in range(3))
    server.replies = [Reply(200, lines.encode(), {"Content-Type": "application/x-ndjson"})]
    got = list(client(server).usage_export(start="2026-12-01T00:00:00Z"))
    assert urlsplit(server.seen[0].path).path == "/v1/usage/export"
    assert query(server.seen[0].path) == {"format": ["json"], "start": ["2026-12-01T00:00:00Z"]}
    assert [g.sandbox_id for g in got] == ["sbx-0", "sbx-1", "sbx-2"]
    assert got[0].ended_at is None
    assert got[1].ended_at == "2026-12-01T19:05:00Z"


def test_usage_export_error_answer_raises(server: ScriptServer) -> None:
    body = {"error": {"code": "forbidden", "message": "no"}}
    server.replies = [Reply(403, json.dumps(body).encode())]
    with pytest.raises(wrenn.PermissionDeniedError):
        next(iter(client(server).usage_export()))


def test_usage_export_yields_before_the_answer_ends() -> None:
    """Lines come out as chunks arrive (split mid-line); the rest is not read yet."""
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(1000):
            line = (json.dumps(interval(i)) + "\n").encode()
            sent.append(i)
            yield line[:10]
            yield line[10:]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    http = httpx.Client(base_url="http://wrenn.test", transport=httpx.MockTransport(handler))
    c = wrenn.Wrenn("wrn_test", "http://wrenn.test", http_client=http)
    it = c.usage_export()
    first = next(it)
    assert first.sandbox_id == "sbx-0"
    assert len(sent) < 10  # the other ~990 intervals are still unread
    rest = list(it)
    assert len(rest) == 999
    assert rest[-1].sandbox_id == "sbx-999"


def test_async_usage_export_streams() -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for i in range(200):
            sent.append(i)
            yield (json.dumps(interval(i)) + "\n").encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    async def main() -> None:
        http = httpx.AsyncClient(
            base_url="http://wrenn.test", transport=httpx.MockTransport(handler)
        )
        async with wrenn.AsyncWrenn("wrn_test", "http://wrenn.test", http_client=http) as c:
            it = c.usage_export()
            first = await it.__anext__()
            assert first.sandbox_id == "sbx-0"
            assert len(sent) < 10
            assert len([x async for x in it]) == 199
        await http.aclose()

    asyncio.run(main())


def test_async_pool_usage_invoice(server: ScriptServer) -> None:
    server.replies = [ok(POOL_NONE), ok(USAGE), ok(INVOICE)]

    async def main() -> None:
        async with wrenn.AsyncWrenn("wrn_test", server.url) as c:
            assert (await c.pool()).plan is None
            assert (await c.usage("sandbox")).entries[0].key == "sbx-1"
            assert (await c.invoice()).total_cents == 900

    asyncio.run(main())


POOL_MSG = "the team's pool is exhausted: running sandboxes: 1 in use of 1, 1 asked (plan 'tiny')"


def pool_exhausted() -> Reply:
    body = {"error": {"code": "pool_exhausted", "message": POOL_MSG}}
    return Reply(429, json.dumps(body).encode(), {"X-Request-Id": "req-7"})


def test_create_refused_by_the_pool_raises_pool_exhausted(server: ScriptServer) -> None:
    server.replies = [pool_exhausted()]
    with pytest.raises(wrenn.PoolExhaustedError) as e:
        wrenn.Sandbox.create(client=client(server))
    assert (e.value.status, e.value.code) == (429, "pool_exhausted")
    assert e.value.message == POOL_MSG
    assert e.value.request_id == "req-7"
    assert POOL_MSG in str(e.value)


def test_pool_exhausted_is_not_retried_but_rate_limited_is(
    server: ScriptServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wrenn._sync import _transport

    monkeypatch.setattr(_transport, "sleep", lambda s: None)
    server.replies = [pool_exhausted()]
    with pytest.raises(wrenn.PoolExhaustedError) as e:
        wrenn.Sandbox.create(client=client(server, retries=3))
    assert len(server.seen) == 1
    assert e.value.message == POOL_MSG
    limited = {"error": {"code": "rate_limited", "message": "slow down"}}
    server.seen.clear()
    server.replies = [Reply(429, json.dumps(limited).encode())]
    with pytest.raises(wrenn.RateLimitError):
        client(server, retries=2).pool()
    assert len(server.seen) == 3


def test_async_pool_exhausted_is_raised_at_once(server: ScriptServer) -> None:
    server.replies = [pool_exhausted()]

    async def main() -> None:
        async with wrenn.AsyncWrenn("wrn_test", server.url) as c:
            with pytest.raises(wrenn.PoolExhaustedError) as e:
                await wrenn.AsyncSandbox.create(client=c)
            assert e.value.message == POOL_MSG

    asyncio.run(main())
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("name", "hand"),
    [
        ("Pool", _usage.Pool),
        ("PoolAmounts", _usage.PoolAmounts),
        ("Plan", _usage.Plan),
        ("Usage", _usage.Usage),
        ("UsageEntry", _usage.UsageEntry),
        ("Invoice", _usage.Invoice),
    ],
)
def test_models_match_the_generated_ones(name: str, hand: type[BaseModel]) -> None:
    """Once openapi.json has the pools schemas, the fields must agree with them."""
    generated = getattr(_models, name, None)
    if not (isinstance(generated, type) and issubclass(generated, BaseModel)):
        pytest.skip(f"openapi.json has no {name} schema yet")
    gen_fields = generated.model_fields
    assert set(hand.model_fields) == set(gen_fields)
    required = {k for k, f in hand.model_fields.items() if f.is_required()}
    assert required == {k for k, f in gen_fields.items() if f.is_required()}
