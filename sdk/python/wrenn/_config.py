"""Client configuration: API key, base URL and limits, resolved once.

Order (first wins): arguments, then the environment (``WRENN_API_KEY``,
``WRENN_BASE_URL`` or the CLI's ``WRENN_API_URL``), then the CLI's
``config.toml`` (``$WRENN_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/wrenn``,
else ``~/.config/wrenn``), then the default base URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How requests are retried on connection errors, 429, 502, 503 and 504."""

    max_retries: int = 3
    """Retries after the first try."""
    base_delay: float = 0.25
    """Seconds; the backoff window is ``base_delay * 2**attempt``."""
    max_delay: float = 8.0
    """Largest single wait, in seconds (a longer ``Retry-After`` is capped here)."""
    deadline: float = 120.0
    """No retry starts later than this many seconds after the first try."""


@dataclass(frozen=True)
class Config:
    """Resolved settings of a client. ``repr`` hides the key."""

    api_key: str = field(repr=False)
    base_url: str
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = RetryPolicy()


def config_dir(env: Mapping[str, str]) -> Path:
    """The CLI's configuration folder."""
    if env.get("WRENN_CONFIG_DIR"):
        return Path(env["WRENN_CONFIG_DIR"])
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "wrenn"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".config" / "wrenn"


def _read_file(env: Mapping[str, str]) -> dict[str, Any]:
    path = config_dir(env) / "config.toml"
    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
            return data
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def resolve_config(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Resolve the settings; raises :class:`ConfigError` when no API key is found."""
    env = os.environ if env is None else env
    file: dict[str, Any] | None = None

    def from_file() -> dict[str, Any]:
        nonlocal file
        if file is None:
            file = _read_file(env)
        return file

    key = (
        api_key
        or env.get("WRENN_API_KEY")
        or _str(from_file().get("api_key"))
        or _str(from_file().get("token"))
    )
    if not key:
        raise ConfigError(
            "no Wrenn API key: pass api_key=..., set WRENN_API_KEY, or log in with the "
            f"CLI (which writes {config_dir(env) / 'config.toml'})"
        )
    url = (
        base_url
        or env.get("WRENN_BASE_URL")
        or env.get("WRENN_API_URL")
        or _str(from_file().get("api_url"))
        or DEFAULT_BASE_URL
    )
    return Config(
        api_key=key,
        base_url=url.rstrip("/"),
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        retry=retry or RetryPolicy(),
    )
