"""The few primitives that differ between the async and the sync flavour."""

from __future__ import annotations

import asyncio
import inspect
from typing import TypeVar

T = TypeVar("T")


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def maybe_await(value: object) -> None:
    """Await a callback's result when it is awaitable (async callbacks)."""
    if inspect.isawaitable(value):
        await value
