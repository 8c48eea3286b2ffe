# Generated from wrenn/_async by scripts/gen.py: do not edit.
"""HTTP transport shared by the control plane and the data plane.

One ``httpx`` client (one connection pool) per :class:`Wrenn` serves both
planes: the REST API and envd, reached through the control plane's sandbox
proxy on the same base URL. Retries, backoff and error mapping live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from wrenn import _errors
from wrenn._config import Config
from wrenn._retry import RETRY_STATUSES, RetryState, parse_retry_after
from wrenn._sync._compat import sleep
from wrenn._version import __version__

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def _transport_error(e: httpx.TransportError) -> _errors.WrennError:
    if isinstance(e, httpx.TimeoutException):
        return _errors.TimeoutError(f"request timed out: {e!r}")
    return _errors.ConnectionError(f"connection failed: {e!r}")


class Transport:
    """Sends requests with retries; raises the SDK's errors for error answers."""

    def __init__(self, config: Config, http_client: httpx.Client | None = None) -> None:
        self.config = config
        self._owns_http = http_client is None
        self.http = http_client or httpx.Client(
            base_url=config.base_url,
            timeout=config.timeout,
            headers={"User-Agent": f"wrenn-python/{__version__}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def send(
        self,
        request: httpx.Request,
        *,
        idempotent: bool,
        stream: bool = False,
        replayable: bool = True,
    ) -> httpx.Response:
        """Send, retrying what is safe to retry; error answers raise.

        A request is retried on a connection that never opened and on ``429``
        always (the server did not act on it), except a full pool
        (``pool_exhausted``, ``quota_exceeded``: raised at once, as only the
        team's own sandboxes ending frees it), and on other transport errors
        and ``502``/``503``/``504`` only when it is ``idempotent``. A request
        whose body is a stream (``replayable=False``) is never retried.
        """
        state = RetryState(self.config.retry)
        while True:
            try:
                resp = self.http.send(request, stream=stream)
            except httpx.TransportError as e:
                never_sent = isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout))
                delay = (
                    state.next_delay(None) if replayable and (never_sent or idempotent) else None
                )
                if delay is None:
                    raise _transport_error(e) from e
                sleep(delay)
                continue
            status = resp.status_code
            if status < 400:
                return resp
            if status in RETRY_STATUSES and replayable and (idempotent or status == 429):
                # a full pool frees only as the team's own sandboxes end: say so at once
                if status == 429:
                    body = resp.read()
                    err = _errors.error_from_body(status, body, resp.headers.get("x-request-id"))
                    if isinstance(err, _errors.PoolExhaustedError):
                        resp.close()
                        raise err
                delay = state.next_delay(parse_retry_after(resp.headers.get("retry-after")))
                if delay is not None:
                    resp.close()
                    sleep(delay)
                    continue
            try:
                body = resp.read()
            finally:
                resp.close()
            raise _errors.error_from_body(status, body, resp.headers.get("x-request-id"))

    def stream(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """A ``/v1`` call whose answer is read as it arrives; the caller closes it."""
        h = {"Authorization": f"Bearer {self.config.api_key}"}
        request = self.http.build_request(method, path, params=params, headers=h)
        return self.send(request, idempotent=method in IDEMPOTENT_METHODS, stream=True)

    def api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """A ``/v1`` call: the decoded JSON answer (``None`` for ``204``)."""
        h = {"Authorization": f"Bearer {self.config.api_key}"}
        if headers:
            h.update(headers)
        request = self.http.build_request(method, path, json=json, params=params, headers=h)
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        resp = self.send(request, idempotent=idempotent)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()
