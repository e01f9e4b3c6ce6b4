"""Admission to the removal pipeline: a bound on the requests in it, with its own gauge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Gauge

from service.errors import ApiError, ErrorKind
from service.metrics import Metrics


class Admission:
    """Bounds the requests in the whole pipeline, not only in the engine queue: when decoding or
    encoding is the bottleneck (RGBA on a small CPU box) the engine queue stays short while work
    piles up in the CPU pool. Refusing before the upload is read makes overload answers cheap.

    Videos have their own (`noun="videos"`, their own gauge and refusal reason): a clip holds its
    place for as long as its response streams, so it takes `acquire`/`release` instead of `slot`."""

    def __init__(
        self,
        limit: int,
        metrics: Metrics,
        *,
        noun: str = "requests",
        reason: str = "overloaded",
        gauge: Gauge | None = None,
    ) -> None:
        self.limit = limit
        self._metrics = metrics
        self._noun = noun
        self._reason = reason
        self._gauge = metrics.in_flight if gauge is None else gauge
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

    def acquire(self) -> None:
        """Takes one place (give it back with `release`); `ApiError(QUEUE_FULL)` when none is free."""
        if self._in_flight >= self.limit:
            self._metrics.rejected.labels(self._reason).inc()
            raise ApiError(
                ErrorKind.QUEUE_FULL,
                f"server busy: {self._in_flight} {self._noun} in progress; retry after the Retry-After delay",
            )
        self._set(self._in_flight + 1)

    def release(self) -> None:
        self._set(self._in_flight - 1)

    def _set(self, value: int) -> None:
        self._in_flight = value
        self._gauge.set(value)
