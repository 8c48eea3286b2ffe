"""Retry decisions and backoff, free of I/O so both clients share them."""

from __future__ import annotations

import email.utils
import random
import time

from ._config import RetryPolicy

RETRY_STATUSES = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_delay(
    policy: RetryPolicy,
    attempt: int,
    retry_after: float | None,
    rng: random.Random | None = None,
) -> float:
    """The wait before retry number ``attempt`` (0-based): full jitter, or ``Retry-After``."""
    if retry_after is not None:
        return min(retry_after, policy.max_delay)
    window = min(policy.max_delay, policy.base_delay * (2**attempt))
    return (rng or random).uniform(0, window)


class RetryState:
    """Counts tries and tells whether another one may start."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 0
        self.started = time.monotonic()

    def next_delay(self, retry_after: float | None) -> float | None:
        """The wait before the next try, or ``None`` when no retry is left."""
        if self.attempt >= self.policy.max_retries:
            return None
        delay = backoff_delay(self.policy, self.attempt, retry_after)
        if time.monotonic() - self.started + delay > self.policy.deadline:
            return None
        self.attempt += 1
        return delay
