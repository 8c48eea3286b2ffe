# Generated from wrenn/_async by scripts/gen.py: do not edit.
"""``Sandbox``: one sandbox's lifecycle plus its commands, PTY and files."""

from __future__ import annotations

import builtins
import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from wrenn import _errors
from wrenn import _models as m
from wrenn._signing import signed_file_url
from wrenn._sync._envd import ENVD_PORT, Envd
from wrenn._sync.client import Wrenn
from wrenn._sync.commands import Commands
from wrenn._sync.files import Filesystem
from wrenn._sync.pty import Pty

DEFAULT_USER = "user"


class Sandbox:
    """A running (or paused) sandbox.

    Make one with :meth:`create` or :meth:`connect`; ``with`` kills it on
    exit. ``commands``, ``pty`` and ``files`` reach its guest through envd.
    """

    def __init__(
        self,
        info: m.Sandbox,
        envd_access_token: str | None,
        client: Wrenn,
        *,
        owns_client: bool = False,
    ) -> None:
        self.info = info
        self.envd_access_token = envd_access_token
        self.client = client
        self._owns_client = owns_client
        envd = Envd(client.transport, info.id, envd_access_token)
        self.commands = Commands(envd)
        self.pty = Pty(envd)
        self.files = Filesystem(envd)

    @property
    def id(self) -> str:
        return self.info.id

    # -- construction -----------------------------------------------------

    @classmethod
    def create(
        cls,
        template: str = "base",
        *,
        timeout: int | None = None,
        vcpus: int | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        env_vars: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        internet: bool | None = None,
        egress_allow: Sequence[str] | None = None,
        egress_deny: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        on_timeout: Literal["kill", "pause"] | None = None,
        auto_resume: bool | None = None,
        public_traffic: bool | None = None,
        client: Wrenn | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> Sandbox:
        """Create a sandbox and return it once it runs.

        ``timeout`` is the sandbox's lifetime in seconds (``timeout_secs``). The
        request carries an ``Idempotency-Key`` made once per call, so a retried
        create never makes two sandboxes.
        """
        body = m.CreateSandbox(
            template=template,
            timeout_secs=timeout,
            vcpus=vcpus,
            memory_mb=memory_mb,
            disk_mb=disk_mb,
            env_vars=dict(env_vars) if env_vars is not None else None,
            metadata=dict(metadata) if metadata is not None else None,
            internet=internet,
            egress_allow=list(egress_allow) if egress_allow is not None else None,
            egress_deny=list(egress_deny) if egress_deny is not None else None,
            tags=list(tags) if tags is not None else None,
            on_timeout=on_timeout,
            auto_resume=auto_resume,
            public_traffic=public_traffic,
        ).model_dump(exclude_none=True)
        owns = client is None
        client = client or Wrenn(api_key, base_url)
        try:
            data = client.transport.api(
                "POST",
                "/v1/sandboxes",
                json=body,
                headers={"Idempotency-Key": str(uuid.uuid4())},
                idempotent=True,
            )
        except BaseException:
            if owns:
                client.close()
            raise
        return cls._from_answer(data, client, owns_client=owns)

    @classmethod
    def connect(
        cls,
        sandbox_id: str,
        *,
        client: Wrenn | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> Sandbox:
        """Attach to an existing sandbox, resuming it when paused."""
        owns = client is None
        client = client or Wrenn(api_key, base_url)
        try:
            data = client.transport.api(
                "POST", f"/v1/sandboxes/{sandbox_id}/connect", idempotent=True
            )
        except BaseException:
            if owns:
                client.close()
            raise
        return cls._from_answer(data, client, owns_client=owns)

    @classmethod
    def _from_answer(cls, data: Any, client: Wrenn, *, owns_client: bool) -> Sandbox:
        info = m.Sandbox.model_validate(data)
        return cls(info, info.envd_access_token, client, owns_client=owns_client)

    @staticmethod
    def list(
        *,
        state: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
        client: Wrenn | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> Iterator[m.Sandbox]:
        """The team's sandboxes, fetched page by page (``limit`` per page)."""
        owns = client is None
        client = client or Wrenn(api_key, base_url)
        params: dict[str, Any] = {}
        if state:
            params["state"] = state
        if limit:
            params["limit"] = limit
        for k, v in (metadata or {}).items():
            params[f"metadata[{k}]"] = v
        try:
            while True:
                data = client.transport.api("GET", "/v1/sandboxes", params=params)
                page = m.SandboxPage.model_validate(data)
                for sbx in page.sandboxes:
                    yield sbx
                if not page.next_cursor:
                    return
                params["cursor"] = page.next_cursor
        finally:
            if owns:
                client.close()

    # -- lifecycle ----------------------------------------------------------

    def _post(self, path: str, json: Any = None, idempotent: bool = False) -> Any:
        return self.client.transport.api(
            "POST", f"/v1/sandboxes/{self.id}{path}", json=json, idempotent=idempotent
        )

    def get_info(self) -> m.Sandbox:
        """The sandbox as the API shows it now."""
        data = self.client.transport.api("GET", f"/v1/sandboxes/{self.id}")
        self.info = m.Sandbox.model_validate(data)
        return self.info

    def is_running(self) -> bool:
        return (self.get_info()).state == "running"

    def kill(self) -> None:
        """Destroy the sandbox (a sandbox already gone is fine)."""
        with contextlib.suppress(_errors.NotFoundError):
            self.client.transport.api("DELETE", f"/v1/sandboxes/{self.id}")

    def pause(self, *, memory: bool = True) -> m.Sandbox:
        """Pause; ``memory=False`` keeps only the disk (the next resume boots afresh)."""
        body = m.PauseSandbox(memory=memory).model_dump(exclude_none=True)
        self.info = m.Sandbox.model_validate(self._post("/pause", body))
        return self.info

    def resume(self) -> m.Sandbox:
        self.info = m.Sandbox.model_validate(self._post("/resume"))
        return self.info

    def set_timeout(self, timeout: int) -> m.Sandbox:
        """Kill (or pause) the sandbox ``timeout`` seconds from now."""
        body = m.SetTimeout(timeout_secs=timeout).model_dump()
        self.info = m.Sandbox.model_validate(self._post("/timeout", body, True))
        return self.info

    def fork(self, count: int = 1, *, timeout: int | None = None) -> builtins.list[Sandbox]:
        """Copies of this running sandbox (memory and disk); they share this client."""
        body = m.ForkSandbox(count=count, timeout_secs=timeout).model_dump(exclude_none=True)
        data = self._post("/fork", body)
        raw = data.get("sandboxes", []) if isinstance(data, dict) else []
        return [Sandbox._from_answer(d, self.client, owns_client=False) for d in raw]

    def snapshot(self, name: str | None = None) -> m.Template:
        """Save the disk as a team template; create sandboxes from it by its name."""
        body = m.CreateSnapshot(name=name).model_dump(exclude_none=True)
        return m.Template.model_validate(self._post("/snapshots", body))

    def metrics(self) -> m.Metrics:
        data = self.client.transport.api("GET", f"/v1/sandboxes/{self.id}/metrics")
        return m.Metrics.model_validate(data)

    # -- URLs ---------------------------------------------------------------

    def get_host(self, port: int) -> str:
        """``<port>-<id>.<domain>``; needs the server's ``WRENN_DOMAIN``."""
        if not self.info.domain:
            raise _errors.ConfigError("the server has no WRENN_DOMAIN: sandbox ports have no host")
        return f"{port}-{self.id}.{self.info.domain}"

    def get_url(self, port: int) -> str:
        """``https://`` URL of a port of the sandbox."""
        return f"https://{self.get_host(port)}"

    def upload_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        """A signed URL to ``POST`` a file to (multipart or octet-stream)."""
        return self._file_url(path, "write", user, expires_in)

    def download_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        """A signed URL to ``GET`` a file from."""
        return self._file_url(path, "read", user, expires_in)

    def _file_url(
        self, path: str, op: Literal["read", "write"], user: str, expires_in: int | None
    ) -> str:
        exp = int(time.time()) + expires_in if expires_in else None
        return signed_file_url(self.get_url(ENVD_PORT), path, op, user, self.envd_access_token, exp)

    # -- cleanup ------------------------------------------------------------

    def close(self) -> None:
        """Release the client this sandbox made itself (the sandbox keeps running)."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.kill()
        finally:
            self.close()
