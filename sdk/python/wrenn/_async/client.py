"""``AsyncWrenn``: the control-plane client (templates, keys, teams, hosts, pool, usage)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

import httpx

from wrenn import _models as m
from wrenn import _usage as u
from wrenn._async._transport import AsyncTransport
from wrenn._config import RetryPolicy, resolve_config


class AsyncWrenn:
    """A Wrenn API client; one connection pool for the REST API and the sandboxes.

    ``api_key`` and ``base_url`` default to ``WRENN_API_KEY`` / ``WRENN_BASE_URL``,
    then the CLI's config file (see :func:`wrenn.resolve_config`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = resolve_config(api_key, base_url, timeout=timeout, retry=retry)
        self.transport = AsyncTransport(self.config, http_client)
        self.templates = AsyncTemplates(self.transport)
        self.keys = AsyncKeys(self.transport)
        self.teams = AsyncTeams(self.transport)
        self.hosts = AsyncHosts(self.transport)

    async def me(self) -> m.Me:
        """The caller, the team this client acts on and the caller's teams."""
        return m.Me.model_validate(await self.transport.api("GET", "/v1/me"))

    async def snapshots(
        self, *, sandbox_id: str | None = None, name: str | None = None
    ) -> builtins.list[m.Template]:
        """The team's templates made from sandboxes, newest first."""
        params = {k: v for k, v in {"sandbox_id": sandbox_id, "name": name}.items() if v}
        data = await self.transport.api("GET", "/v1/snapshots", params=params)
        return m.SnapshotList.model_validate(data).snapshots

    async def pool(self) -> u.Pool:
        """The team's pool: its plan, size and what its sandboxes use (``GET /v1/pool``)."""
        return u.Pool.model_validate(await self.transport.api("GET", "/v1/pool"))

    async def usage(
        self,
        by: u.UsageGroup = "day",
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> u.Usage:
        """The team's metered totals per ``by`` group over ``[start, end)``.

        ``start``/``end`` are datetimes (naive ones are UTC) or RFC 3339
        strings; the server defaults to the last 30 days.
        """
        params = {"by": by, **u.range_params(start, end)}
        return u.Usage.model_validate(await self.transport.api("GET", "/v1/usage", params=params))

    async def usage_export(
        self, *, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> AsyncIterator[u.UsageInterval]:
        """The ledger's intervals over the range, oldest first, read as they arrive.

        The answer is JSON lines streamed page by page; this yields one
        interval per line and never holds the whole export.
        """
        params = {"format": "json", **u.range_params(start, end)}
        resp = await self.transport.stream("GET", "/v1/usage/export", params=params)
        try:
            async for line in resp.aiter_lines():
                if line.strip():
                    yield u.UsageInterval.model_validate_json(line)
        finally:
            await resp.aclose()

    async def invoice(
        self, *, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> u.Invoice:
        """The invoice preview for the range: the plan's price plus burst, in cents."""
        params = u.range_params(start, end)
        data = await self.transport.api("GET", "/v1/usage/invoice", params=params)
        return u.Invoice.model_validate(data)

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> AsyncWrenn:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncTemplates:
    """``client.templates``."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def list(self) -> builtins.list[m.Template]:
        data = await self._t.api("GET", "/v1/templates")
        return m.TemplateList.model_validate(data).templates

    async def get(self, name: str) -> m.Template:
        return m.Template.model_validate(await self._t.api("GET", f"/v1/templates/{name}"))

    async def delete(self, name: str) -> None:
        await self._t.api("DELETE", f"/v1/templates/{name}")


class AsyncKeys:
    """``client.keys``: the team's API keys."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def create(
        self,
        name: str,
        *,
        expires_in_secs: int | None = None,
        owner: Literal["user", "team"] | None = None,
        e2b: bool | None = None,
    ) -> m.CreatedKey:
        body = m.CreateKey(name=name, expires_in_secs=expires_in_secs, owner=owner, e2b=e2b)
        data = await self._t.api("POST", "/v1/keys", json=body.model_dump(exclude_none=True))
        return m.CreatedKey.model_validate(data)

    async def list(self) -> builtins.list[m.ApiKey]:
        return m.KeyList.model_validate(await self._t.api("GET", "/v1/keys")).keys

    async def delete(self, key_id: str) -> None:
        await self._t.api("DELETE", f"/v1/keys/{key_id}")


class AsyncTeams:
    """``client.teams``: teams and their members."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def list(self) -> builtins.list[m.Team]:
        return m.TeamList.model_validate(await self._t.api("GET", "/v1/teams")).teams

    async def members(self, team_id: str) -> builtins.list[m.Member]:
        data = await self._t.api("GET", f"/v1/teams/{team_id}/members")
        return m.MemberList.model_validate(data).members

    async def add_member(
        self, team_id: str, email: str, role: Literal["owner", "member"] = "member"
    ) -> m.Member:
        body = m.AddMember(email=email, role=role).model_dump()
        data = await self._t.api("POST", f"/v1/teams/{team_id}/members", json=body)
        return m.Member.model_validate(data)

    async def remove_member(self, team_id: str, user_id: str) -> None:
        await self._t.api("DELETE", f"/v1/teams/{team_id}/members/{user_id}")


class AsyncHosts:
    """``client.hosts``: shared and bring-your-own-cloud hosts."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport

    async def create(
        self,
        name: str,
        *,
        byoc: bool | None = None,
        tags: Sequence[str] | None = None,
        tls_fingerprint: str | None = None,
    ) -> m.CreatedHost:
        """Register a host record; the answer has its one-time registration token."""
        body = m.CreateHost(
            name=name,
            byoc=byoc,
            tags=list(tags) if tags is not None else None,
            tls_fingerprint=tls_fingerprint,
        )
        data = await self._t.api("POST", "/v1/hosts", json=body.model_dump(exclude_none=True))
        return m.CreatedHost.model_validate(data)

    async def list(self) -> builtins.list[m.Host]:
        return m.HostList.model_validate(await self._t.api("GET", "/v1/hosts")).hosts

    async def get(self, host_id: str) -> m.Host:
        return m.Host.model_validate(await self._t.api("GET", f"/v1/hosts/{host_id}"))

    async def drain(self, host_id: str, draining: bool = True) -> m.Host:
        body = m.UpdateHost(draining=draining).model_dump()
        data = await self._t.api("PATCH", f"/v1/hosts/{host_id}", json=body, idempotent=True)
        return m.Host.model_validate(data)

    async def delete(self, host_id: str, *, force: bool = False) -> None:
        params: Mapping[str, Any] = {"force": "true"} if force else {}
        await self._t.api("DELETE", f"/v1/hosts/{host_id}", params=params)

    async def tags(self, host_id: str) -> builtins.list[str]:
        return m.Tags.model_validate(await self._t.api("GET", f"/v1/hosts/{host_id}/tags")).tags

    async def add_tags(self, host_id: str, tags: Sequence[str]) -> builtins.list[str]:
        data = await self._t.api(
            "POST", f"/v1/hosts/{host_id}/tags", json={"tags": list(tags)}, idempotent=True
        )
        return m.Tags.model_validate(data).tags

    async def remove_tag(self, host_id: str, tag: str) -> None:
        await self._t.api("DELETE", f"/v1/hosts/{host_id}/tags/{tag}")
