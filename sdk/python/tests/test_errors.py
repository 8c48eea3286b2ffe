from __future__ import annotations

import json

import pytest

import wrenn
from wrenn._errors import error_from_body

from .conftest import Reply, ScriptServer


def body(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": "m"}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthenticated", wrenn.AuthenticationError),
        (403, "forbidden", wrenn.PermissionDeniedError),
        (404, "not_found", wrenn.NotFoundError),
        (409, "conflict", wrenn.ConflictError),
        (409, "sandbox_not_running", wrenn.SandboxError),
        (422, "validation_failed", wrenn.ValidationError),
        (400, "invalid_json", wrenn.ValidationError),
        (429, "rate_limited", wrenn.RateLimitError),
        (429, "too_many_attempts", wrenn.RateLimitError),
        (429, "quota_exceeded", wrenn.PoolExhaustedError),
        (429, "pool_exhausted", wrenn.PoolExhaustedError),
        (503, "no_capacity", wrenn.SandboxError),
        (503, "agent_unavailable", wrenn.SandboxError),
        (500, "internal", wrenn.APIError),
    ],
)
def test_v1_codes_map_to_classes(status: int, code: str, cls: type[wrenn.WrennError]) -> None:
    err = error_from_body(status, body(code), "rid")
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.request_id) == (status, code, "m", "rid")


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthenticated", wrenn.AuthenticationError),
        (404, "not_found", wrenn.NotFoundError),
        (409, "already_exists", wrenn.ConflictError),
        (400, "invalid_argument", wrenn.ValidationError),
        (403, "permission_denied", wrenn.PermissionDeniedError),
        (504, "deadline_exceeded", wrenn.TimeoutError),
    ],
)
def test_connect_codes_map_to_classes(status: int, code: str, cls: type[wrenn.WrennError]) -> None:
    err = error_from_body(status, json.dumps({"code": code, "message": "x"}).encode(), None)
    assert type(err) is cls
    assert err.code == code


def test_proxy_body_with_numeric_code_maps_by_status() -> None:
    err = error_from_body(502, b'{"sandboxId":"s","message":"paused","code":502}', None)
    assert type(err) is wrenn.SandboxError
    assert err.message == "paused"
    assert err.code is None


def test_non_json_body_keeps_text() -> None:
    err = error_from_body(404, b"nope", None)
    assert type(err) is wrenn.NotFoundError
    assert err.message == "nope"


def test_timeout_error_is_also_the_builtin() -> None:
    assert issubclass(wrenn.TimeoutError, TimeoutError)


def test_real_answer_carries_request_id(server: ScriptServer) -> None:
    server.replies = [Reply(404, body("not_found"), {"x-request-id": "req-42"})]
    c = wrenn.Wrenn("k", server.url)
    with pytest.raises(wrenn.NotFoundError) as info:
        c.templates.get("nope")
    assert info.value.request_id == "req-42"
    assert info.value.status == 404
    assert "req-42" in str(info.value)
    assert server.seen[0].headers["authorization"] == "Bearer k"
