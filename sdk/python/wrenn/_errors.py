"""One error hierarchy for both planes, keyed on the server's error ``code``.

Every error carries the HTTP ``status`` (``None`` for transport failures), the
``code`` (``/v1``'s ``error.code`` or envd's Connect code), the ``message``
and the ``request_id`` (the ``x-request-id`` answer header).
"""

from __future__ import annotations

import builtins
import json
from typing import Any


class WrennError(Exception):
    """Base class of every error this SDK raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


class ConfigError(WrennError):
    """The client could not be configured (no API key, unreadable config file)."""


class APIError(WrennError):
    """The server answered with an error that has no more specific class."""


class AuthenticationError(APIError):
    """401: missing, malformed, expired or revoked credential (or envd token)."""


class PermissionDeniedError(APIError):
    """403: authenticated but not allowed."""


ForbiddenError = PermissionDeniedError


class NotFoundError(APIError):
    """404: no such resource (or another team's)."""


class ConflictError(APIError):
    """409: the resource's state forbids this (name taken, already paused, ...)."""


class ValidationError(APIError):
    """400 or 422: the request was refused as invalid."""


class RateLimitError(APIError):
    """429 ``rate_limited`` / ``too_many_attempts``: slow down."""


class PoolExhaustedError(APIError):
    """429 ``pool_exhausted`` / ``quota_exceeded``: the team's limit is reached."""


class TimeoutError(WrennError, builtins.TimeoutError):
    """The request, or a command, ran past its deadline."""


class SandboxError(APIError):
    """The sandbox or its host cannot serve this now (not running, no capacity, ...)."""


class ConnectionError(WrennError):
    """The server could not be reached."""


class CommandExitError(WrennError):
    """A command run in the foreground exited with a non-zero code."""

    def __init__(self, stdout: str, stderr: str, exit_code: int, error: str | None) -> None:
        super().__init__(f"command exited with code {exit_code}" + (f": {error}" if error else ""))
        self.stdout = stdout
        self.stderr = stderr
        self.exit_code = exit_code
        self.error = error


_SANDBOX_CODES = {
    "sandbox_not_running",
    "sandbox_not_paused",
    "agent_unavailable",
    "no_capacity",
    "template_not_found",
    "fork_limit_exceeded",
}
_POOL_CODES = {"pool_exhausted", "quota_exceeded"}


def _class_for(status: int | None, code: str | None) -> type[WrennError]:
    if code in _POOL_CODES:
        return PoolExhaustedError
    if code in _SANDBOX_CODES:
        return SandboxError
    # Connect codes (envd) and /v1 codes that name the class themselves
    by_code: dict[str, type[WrennError]] = {
        "unauthenticated": AuthenticationError,
        "forbidden": PermissionDeniedError,
        "permission_denied": PermissionDeniedError,
        "not_found": NotFoundError,
        "conflict": ConflictError,
        "already_exists": ConflictError,
        "rate_limited": RateLimitError,
        "too_many_attempts": RateLimitError,
        "resource_exhausted": RateLimitError,
        "deadline_exceeded": TimeoutError,
        "invalid_argument": ValidationError,
        "validation_failed": ValidationError,
        "bad_request": ValidationError,
        "invalid_json": ValidationError,
        "unavailable": SandboxError,
    }
    if code in by_code:
        return by_code[code]
    by_status: dict[int, type[WrennError]] = {
        400: ValidationError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        422: ValidationError,
        429: RateLimitError,
        502: SandboxError,
        503: SandboxError,
        504: TimeoutError,
    }
    return by_status.get(status or 0, APIError)


def make_error(
    status: int | None, code: str | None, message: str, request_id: str | None = None
) -> WrennError:
    """The error for a server answer: class chosen by ``code``, then by ``status``."""
    cls = _class_for(status, code)
    return cls(message, status=status, code=code, request_id=request_id)


def error_from_body(status: int, body: bytes, request_id: str | None) -> WrennError:
    """Parse any of the planes' error bodies.

    ``/v1``: ``{"error": {"code", "message"}}``; Connect: ``{"code", "message"}``
    with a string code; the sandbox proxy and envd's plain routes:
    ``{"message", "code": <status>}``.
    """
    code: str | None = None
    message = ""
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            code = inner.get("code") if isinstance(inner.get("code"), str) else None
            message = str(inner.get("message", ""))
        else:
            if isinstance(data.get("code"), str):
                code = data["code"]
            message = str(data.get("message", ""))
    if not message:
        message = body.decode("utf-8", "replace")[:500] if body else f"HTTP {status}"
    return make_error(status, code, message, request_id)
