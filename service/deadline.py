"""The request deadline, applied to every wait of a request (CPU pool and engine alike)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from service.errors import ApiError, ErrorKind

T = TypeVar("T")


async def within(deadline: float, work: Awaitable[T]) -> T:
    """The request deadline covers decoding and encoding too, not only the engine: when the CPU pool
    is the bottleneck, a request must not wait there unboundedly. On timeout the work is cancelled
    (a queued engine item is then dropped before inference)."""
    try:
        return await asyncio.wait_for(work, max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        raise ApiError(ErrorKind.TIMEOUT, "the request deadline passed before the result was ready") from None
