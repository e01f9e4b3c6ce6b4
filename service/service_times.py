"""Recent engine service times, for admission's wait estimate (`service.admission.QueueStats`).

`TimedEngine` wraps an engine as its batcher sees it (the batcher itself is unchanged): each
`predict_batch` call is timed and the items inside the engine are counted. The wait of a new item is
then estimated as per-item engine time (an EWMA over calls, so it follows an engine that slows down
or speeds up) x the items ahead of it (queued + in the engine) / the calls that run side by side.
Batches fill up as a queue grows, so the per-item time of a long queue is at most the one measured
on short batches: the estimate errs long, refusing a little early rather than late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from service.contract import Alpha, MattingEngine, RGBImage

EWMA_WEIGHT = 0.3


class TimedEngine:
    """A `MattingEngine` that delegates everything to `inner` and keeps its service times."""

    def __init__(self, inner: MattingEngine, parallel_calls: int = 1) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id
        self.parallel_calls = max(parallel_calls, 1)
        self.item_s: float | None = None  # None before the first call: nothing known, nothing refused
        self.in_engine = 0
        self._lock = threading.Lock()  # calls run on the batcher's worker threads
        self.queued: Callable[[], int] = lambda: 0  # the batcher's depth, wired by the app

    def bucket_key(self, image: RGBImage) -> Hashable:
        return self.inner.bucket_key(image)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        return self.inner.input_size(height, width)

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        with self._lock:
            self.in_engine += len(images)
        started = time.monotonic()
        try:
            return self.inner.predict_batch(images)
        finally:  # a failed call counts too: it took the time
            self.record(time.monotonic() - started, len(images))
            with self._lock:
                self.in_engine -= len(images)

    def record(self, seconds: float, items: int) -> None:
        per_item = seconds / max(items, 1)
        with self._lock:
            previous = self.item_s
            self.item_s = per_item if previous is None else previous + EWMA_WEIGHT * (per_item - previous)

    def expected_wait_s(self) -> float:
        """Seconds a new item would wait for this engine (0 before any call was measured)."""
        if self.item_s is None:
            return 0.0
        return self.item_s * (self.queued() + self.in_engine) / self.parallel_calls

    def warmup(self) -> None:
        self.inner.warmup()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # anything else an engine offers (e.g. its device)
        return getattr(self.inner, name)
