"""Admission to the removal pipeline: what a request may hold, and when it is refused.

A request holds, in order:

1. an *upload* place while its body is read (`reading`): at most `max_uploads` bodies are read at
   once; an upload still going after `slow_upload_after_s` must also take one of `max_slow_uploads`
   *slow* places or end (408), so trickling clients cannot hold every upload place;
2. once the body is read, an *in-flight* place (`slot`, at most `max_in_flight`) and a *memory*
   reservation (`memory`: the request's estimated working memory, all together at most the memory
   budget).

Besides counts, admission matches capacity: a request is refused (429) when the expected wait is
longer than `max_wait_s` (by default half the deadline: a request admitted at the limit still has
the other half for its own work, and estimates can be off). The expected wait is the longer of the
engine's (`QueueStats.expected_wait_s`: recent per-item engine time x queued items / parallelism)
and the whole pipeline's (`PipelinePace`: busy time per completed request x requests in flight,
which also sees decode and encode, the bottleneck of rgba outputs on a CPU node). The same check
runs before the upload is read, so overload answers stay cheap. Retry-After says when the backlog
will have drained below the limit (the excess wait; for a full place or budget, one request's time).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from service.errors import ApiError, ErrorKind
from service.metrics import Metrics
from service.pipeline_pace import PipelinePace

_MIB = 1024 * 1024
_FALLBACK_BUDGET_MB = 2048
_BUDGET_SHARE = 0.75  # of the container's (or machine's) memory; the rest: model, runtime, slack


class QueueStats(Protocol):
    def expected_wait_s(self) -> float:
        """Seconds a new item would wait for the engine, from the queue and recent service times."""
        ...


@dataclass(frozen=True)
class AdmissionLimits:
    max_in_flight: int
    max_uploads: int
    max_slow_uploads: int
    memory_budget_bytes: int
    max_wait_s: float  # an expected wait beyond it is refused


def memory_limit_bytes() -> int | None:
    """The container's memory limit (cgroup v2 or v1), else the machine's memory; None if unknown."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            value = int(Path(path).read_text().strip())
            if 0 < value < 1 << 60:  # v1 reports "no limit" as a huge number, v2 as "max"
                return value
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def memory_budget_bytes(configured_mb: int) -> int:
    """`configured_mb`, or (0) 75 % of the container memory limit, or 2048 MiB when unknown."""
    if configured_mb:
        return configured_mb * _MIB
    limit = memory_limit_bytes()
    return int(limit * _BUDGET_SHARE) if limit else _FALLBACK_BUDGET_MB * _MIB


class UploadPlace:
    """One body read's place; `allow_slow` takes a slow-upload place (once) when the read runs long."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self.slow = False

    def allow_slow(self) -> bool:
        if not self.slow:
            self.slow = self._admission._take_slow()
        return self.slow


class Admission:
    """Photos' admission (the module docstring). Videos have their own count, `PlaceLimit`."""

    def __init__(self, limits: AdmissionLimits, metrics: Metrics, queue: QueueStats | None = None) -> None:
        self.limits = limits
        self.queue = queue  # set once the engines are started
        self.pace = PipelinePace()  # also the count of requests in flight
        self._metrics = metrics
        self._uploads = 0
        self._slow_uploads = 0
        self._reserved = 0

    @property
    def in_flight(self) -> int:
        return self.pace.in_flight

    @property
    def uploads(self) -> int:
        return self._uploads

    @property
    def reserved_bytes(self) -> int:
        return self._reserved

    def expected_wait_s(self) -> float:
        """Seconds a request admitted now would wait behind the work already admitted."""
        engine = self.queue.expected_wait_s() if self.queue is not None else 0.0
        return max(engine, self.pace.expected_wait_s())

    def check(self) -> None:
        """Refuse now if a request could not be admitted anyway (no place, or the wait is too long)."""
        if self.in_flight >= self.limits.max_in_flight:
            self._refuse("overloaded", f"server busy: {self.in_flight} requests in progress")
        wait = self.expected_wait_s()
        if wait > self.limits.max_wait_s:
            self._refuse(
                "expected_wait",
                f"server busy: the expected wait ({wait:.1f} s) is longer than {self.limits.max_wait_s:g} s",
                retry_after_s=wait - self.limits.max_wait_s,
            )

    @contextlib.contextmanager
    def reading(self) -> Iterator[UploadPlace]:
        """An upload place for the body read; 429 when `max_uploads` bodies are being read."""
        if self._uploads >= self.limits.max_uploads:
            self._refuse("uploads", f"server busy: {self._uploads} uploads in progress")
        place = UploadPlace(self)
        self._set_uploads(self._uploads + 1)
        try:
            yield place
        finally:
            self._set_uploads(self._uploads - 1)
            if place.slow:
                self._slow_uploads -= 1

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """An in-flight place for the `with` block (after `check`); raises `ApiError(QUEUE_FULL)`."""
        self.check()
        self.pace.started()
        self._metrics.in_flight.set(self.in_flight)
        completed = False
        try:
            yield
            completed = True
        finally:
            self.pace.finished(completed=completed)
            self._metrics.in_flight.set(self.in_flight)

    @contextlib.contextmanager
    def memory(self, needed: int, what: str = "this image") -> Iterator[None]:
        """Reserve `needed` bytes of the budget: 413 when one request alone needs more than all of
        it (no retry can help), 429 when what is reserved now leaves too little."""
        budget = self.limits.memory_budget_bytes
        if needed > budget:
            raise ApiError(
                ErrorKind.IMAGE_TOO_LARGE,
                f"{what} needs about {needed / _MIB:,.0f} MiB of working memory; the server's "
                f"budget is {budget / _MIB:,.0f} MiB (send a smaller image or output=mask)",
            )
        if self._reserved + needed > budget:
            self._refuse(
                "memory",
                f"server busy: {self._reserved / _MIB:,.0f} of {budget / _MIB:,.0f} MiB of working "
                "memory are reserved by requests in progress",
            )
        self._set_reserved(self._reserved + needed)
        try:
            yield
        finally:
            self._set_reserved(self._reserved - needed)

    def _take_slow(self) -> bool:
        if self._slow_uploads >= self.limits.max_slow_uploads:
            self._metrics.rejected.labels("slow_uploads").inc()
            return False
        self._slow_uploads += 1
        return True

    def _refuse(self, reason: str, message: str, *, retry_after_s: float | None = None) -> None:
        self._metrics.rejected.labels(reason).inc()
        # A full place or budget frees up when one request completes: about one request's time.
        retry = self.pace.per_request_s if retry_after_s is None else retry_after_s
        raise ApiError(
            ErrorKind.QUEUE_FULL, f"{message}; retry after the Retry-After delay", retry_after_s=retry
        )

    def _set_uploads(self, value: int) -> None:
        self._uploads = value
        self._metrics.uploads.set(value)

    def _set_reserved(self, value: int) -> None:
        self._reserved = value
        self._metrics.memory_reserved.set(value)
