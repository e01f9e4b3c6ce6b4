"""A plain count of places (videos in progress): `acquire`/`release`, or `slot` for a `with` block.

Photos go through `service.admission.Admission` (upload places, expected wait, memory budget); a
video holds its place for as long as its response streams, so it only needs a count and a refusal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Gauge

from service.errors import ApiError, ErrorKind
from service.metrics import Metrics


class PlaceLimit:
    def __init__(self, limit: int, metrics: Metrics, *, noun: str, reason: str, gauge: Gauge) -> None:
        self.limit = limit
        self._metrics = metrics
        self._noun = noun
        self._reason = reason
        self._gauge = gauge
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Holds one place for the `with` block; raises `ApiError(QUEUE_FULL)` when none is free."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def check(self) -> None:
        """`ApiError(QUEUE_FULL)` when no place is free now (a cheap refusal before an upload is read)."""
        if self._in_flight >= self.limit:
            self._metrics.rejected.labels(self._reason).inc()
            raise ApiError(
                ErrorKind.QUEUE_FULL,
                f"server busy: {self._in_flight} {self._noun} in progress; retry after the Retry-After delay",
            )

    def acquire(self) -> None:
        """Takes one place (give it back with `release`); `ApiError(QUEUE_FULL)` when none is free."""
        self.check()
        self._set(self._in_flight + 1)

    def release(self) -> None:
        self._set(self._in_flight - 1)

    def _set(self, value: int) -> None:
        self._in_flight = value
        self._gauge.set(value)
