"""Signed ``/files`` URLs (envd's ``signature`` query), built client-side."""

from __future__ import annotations

import base64
import hashlib
from typing import Literal
from urllib.parse import urlencode


def file_signature(
    path: str,
    operation: Literal["read", "write"],
    user: str,
    token: str,
    expiration: int | None = None,
) -> str:
    """``v1_`` + unpadded base64 of sha256(``path:operation:user:token[:expiration]``)."""
    raw = f"{path}:{operation}:{user}:{token}"
    if expiration is not None:
        raw += f":{expiration}"
    digest = hashlib.sha256(raw.encode()).digest()
    return "v1_" + base64.b64encode(digest).decode().rstrip("=")


def signed_file_url(
    host_url: str,
    path: str,
    operation: Literal["read", "write"],
    user: str,
    token: str | None,
    expiration: int | None,
) -> str:
    """The URL of ``/files`` for one path, signed when the sandbox has a token."""
    params: dict[str, str] = {"path": path, "username": user}
    if token:
        params["signature"] = file_signature(path, operation, user, token, expiration)
        if expiration is not None:
            params["signature_expiration"] = str(expiration)
    return f"{host_url}/files?{urlencode(params)}"
