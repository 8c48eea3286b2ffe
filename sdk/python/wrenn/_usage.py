"""Models of the pools and usage answers (``/v1/pool``, ``/v1/usage*``).

Written from the "Pools and usage" contract (docs/api.md) and its OpenAPI
schemas (``Pool``, ``PoolAmounts``, ``Plan``, ``Usage``, ``UsageEntry``,
``Invoice``); the export's JSON lines have no schema there, so
:class:`UsageInterval` follows the documented columns. Unknown fields are
kept rather than refused, so a newer server does not break an older SDK.
``tests/test_usage.py`` checks these against the generated ``_models`` once
``openapi.json`` carries the schemas, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict

UsageGroup = Literal["day", "hour", "sandbox", "template"]
"""How :meth:`wrenn.Wrenn.usage` groups its totals."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class PoolAmounts(_Answer):
    """Amounts of a pool: its size, or what is used of it (memory, storage in MiB)."""

    vcpus: int
    memory_mib: int
    storage_mib: int
    running: int
    paused: int


class Plan(_Answer):
    """A plan (sizes in GiB and counts; prices in cents)."""

    name: str | None = None
    vcpus: int
    memory_gib: int
    storage_gib: int
    max_running: int
    max_paused: int
    price_cents: int | None = None
    period: str | None = None
    overflow: str | None = None
    burst_vcpus: int | None = None
    burst_cents_per_vcpu_hour: int | None = None
    queue_wait_secs: int | None = None
    """With ``queue``: how long a create without ``Wrenn-Pool-Wait`` waits for room."""


class Pool(_Answer):
    """A team's pool: its plan, its size (with overrides) and what is used.

    ``plan`` and ``size`` are ``None`` for a team without a plan (no pool
    limit); ``over`` is true when use exceeds the size (creates are refused).
    """

    team_id: str
    plan: Plan | None = None
    size: PoolAmounts | None = None
    used: PoolAmounts
    over: bool
    updated_at: str | None = None


class UsageEntry(_Answer):
    """One group's totals; ``key`` is the hour/day start, sandbox id or template."""

    key: str
    template: str | None = None
    running_seconds: float
    paused_seconds: float
    vcpu_seconds: float
    memory_gib_seconds: float
    storage_gib_hours: float
    #: CPU seconds the guests actually used (their VMM processes).
    guest_cpu_seconds: float


class Usage(_Answer):
    """Totals per group over ``[start, end)``."""

    by: str
    start: str
    end: str
    entries: list[UsageEntry]


class Invoice(_Answer):
    """An invoice preview: the plan's price plus burst past the pool, in cents."""

    plan: str | None = None
    period: str
    start: str
    end: str
    price_cents: int
    burst_vcpu_hours: float
    burst_cents_per_vcpu_hour: int
    burst_cents: int
    total_cents: int


class UsageInterval(_Answer):
    """One ledger interval of the export: a stretch a sandbox ran or was paused."""

    sandbox_id: str
    template: str
    host_id: str | None = None
    phase: str
    """``running`` or ``paused``."""
    vcpus: int
    memory_mib: int
    storage_mib: int
    started_at: str
    ended_at: str | None = None
    """``None``: still open."""


def range_params(start: datetime | str | None, end: datetime | str | None) -> dict[str, str]:
    """``start``/``end`` query parameters as RFC 3339 (naive datetimes are UTC)."""
    params = {}
    for name, value in (("start", start), ("end", end)):
        if value is None:
            continue
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            value = value.isoformat()
        params[name] = value
    return params
