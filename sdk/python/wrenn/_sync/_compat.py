"""The few primitives that differ between the async and the sync flavour."""

from __future__ import annotations

import time
from typing import TypeVar

T = TypeVar("T")


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def maybe_await(value: object) -> None:
    """Callbacks of the sync client are plain functions: nothing to wait for."""
