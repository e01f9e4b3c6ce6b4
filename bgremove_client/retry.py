"""When to retry and how long to wait: exponential backoff with jitter, never sooner than Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """max_retries: retries after the first attempt (0 = never retry).
    base_delay:  wait before the first retry when the server gives no Retry-After; doubles each retry.
    max_delay:   cap on one wait. A Retry-After longer than this is not waited out: the error is
                 raised at once, so a batch job is not silently parked for minutes.
    jitter:      each wait is stretched by a random factor in [1, 1 + jitter] so that many clients
                 told the same Retry-After do not all come back in the same millisecond.
    """

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0 or self.jitter < 0:
            raise ValueError("RetryPolicy values must be non-negative")

    def delay(self, retry_number: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry `retry_number` (1-based), or None to give up."""
        if retry_number > self.max_retries:
            return None
        if retry_after is not None and retry_after > self.max_delay:
            return None
        backoff = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        # The server's Retry-After is a floor, exponential backoff takes over once it is longer.
        wait = max(backoff, retry_after or 0.0)
        return min(self.max_delay, wait * (1.0 + self.rng.uniform(0.0, self.jitter)))


NO_RETRY = RetryPolicy(max_retries=0)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After is either delta-seconds ("3") or an HTTP date; returns seconds (>= 0) or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
