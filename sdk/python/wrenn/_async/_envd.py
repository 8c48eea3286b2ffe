"""The data plane of one sandbox: envd's Connect RPCs and ``/files`` routes.

Requests go to the control plane's base URL with ``E2b-Sandbox-Id`` and
``E2b-Sandbox-Port`` (the sandbox proxy forwards them to envd),
``X-Access-Token`` (envd's token) and, to act as a guest user,
``Authorization: Basic base64("<user>:")``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx
from google.protobuf.message import Message

from wrenn import _errors
from wrenn._async._transport import AsyncTransport
from wrenn._connect import FLAG_END_STREAM, EnvelopeDecoder, end_stream_error, envelope

ENVD_PORT = 49983
KEEPALIVE_SECS = 30
M = TypeVar("M", bound=Message)

# Unary methods that change nothing: safe to retry after a 502/503/504.
_READ_ONLY = frozenset(
    {"/process.Process/List", "/filesystem.Filesystem/Stat", "/filesystem.Filesystem/ListDir"}
)


def _basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:".encode()).decode()


class AsyncEnvd:
    """Calls envd of one sandbox through the sandbox proxy."""

    def __init__(self, transport: AsyncTransport, sandbox_id: str, access_token: str | None):
        self.transport = transport
        self.sandbox_id = sandbox_id
        self._headers = {"E2b-Sandbox-Id": sandbox_id, "E2b-Sandbox-Port": str(ENVD_PORT)}
        if access_token:
            self._headers["X-Access-Token"] = access_token

    def headers(self, user: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        h = dict(self._headers)
        if user:
            h["Authorization"] = _basic(user)
        if extra:
            h.update(extra)
        return h

    async def unary(
        self,
        method: str,
        request: Message,
        response_type: type[M],
        *,
        user: str | None = None,
        timeout: float | None = None,
    ) -> M:
        """A unary Connect call (``method`` is ``/package.Service/Method``)."""
        extra = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}
        if timeout:
            extra["Connect-Timeout-Ms"] = str(int(timeout * 1000))
        req = self.transport.http.build_request(
            "POST",
            method,
            content=request.SerializeToString(),
            headers=self.headers(user, extra),
            timeout=self._timeout(timeout),
        )
        resp = await self.transport.send(req, idempotent=method in _READ_ONLY)
        out = response_type()
        out.ParseFromString(resp.content)
        return out

    async def server_stream(
        self,
        method: str,
        request: Message,
        response_type: type[M],
        *,
        user: str | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[M]:
        """Open a server-streaming Connect call; iterate the answer's messages.

        The answer's headers are awaited here, so errors before the first
        message (bad token, unknown sandbox) raise from this call.
        """
        extra = {
            "Content-Type": "application/connect+proto",
            "Connect-Protocol-Version": "1",
            "Keepalive-Ping-Interval": str(KEEPALIVE_SECS),
        }
        if timeout:
            extra["Connect-Timeout-Ms"] = str(int(timeout * 1000))
        req = self.transport.http.build_request(
            "POST",
            method,
            content=envelope(request.SerializeToString()),
            headers=self.headers(user, extra),
            # output may pause for long: the stream is bounded by Connect-Timeout-Ms
            timeout=httpx.Timeout(self.transport.config.timeout, read=None),
        )
        resp = await self.transport.send(req, idempotent=False, stream=True)
        return self._messages(resp, response_type)

    async def _messages(self, resp: httpx.Response, response_type: type[M]) -> AsyncIterator[M]:
        request_id = resp.headers.get("x-request-id")
        decoder = EnvelopeDecoder()
        chunks = resp.aiter_raw()
        end: bytes | None = None
        try:
            async for chunk in chunks:
                for flags, data in decoder.feed(chunk):
                    if flags & FLAG_END_STREAM:
                        end = data
                        break
                    msg = response_type()
                    msg.ParseFromString(data)
                    yield msg
                if end is not None:
                    break
            if end is None:
                raise _errors.ConnectionError("stream ended without an end-of-stream message")
            # Read the body to its end (the chunked terminator), so the
            # connection goes back to the pool instead of being closed.
            async for _ in chunks:
                pass
        except httpx.TransportError as e:
            raise _errors.ConnectionError(f"stream broken: {e!r}") from e
        finally:
            await resp.aclose()
        err = end_stream_error(end, request_id)
        if err is not None:
            raise err

    def _timeout(self, timeout: float | None) -> httpx.Timeout:
        base = self.transport.config.timeout
        return httpx.Timeout(max(base, timeout + 5) if timeout else base)

    async def files_get(self, params: Mapping[str, Any], user: str | None) -> httpx.Response:
        """``GET /files``: the open, streamed answer (close it)."""
        req = self.transport.http.build_request(
            "GET", "/files", params=params, headers=self.headers(user)
        )
        return await self.transport.send(req, idempotent=True, stream=True)

    async def files_post(
        self,
        params: Mapping[str, Any],
        content: Any,
        content_type: str,
        user: str | None,
        replayable: bool,
    ) -> Any:
        """``POST /files``: the decoded JSON answer."""
        req = self.transport.http.build_request(
            "POST",
            "/files",
            params=params,
            content=content,
            headers=self.headers(user, {"Content-Type": content_type}),
            timeout=httpx.Timeout(self.transport.config.timeout, read=None, write=None),
        )
        resp = await self.transport.send(req, idempotent=False, replayable=replayable)
        return resp.json()
