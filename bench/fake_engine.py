"""The one fake matting engine, for tests in process and for real server processes.

In process, tests build `FakeEngine` directly: it records every batch it sees and can be slowed
down, failed or gated on an event. A real uvicorn process loads it through the service's engine
factory setting, `BGREMOVE_MODNET_FACTORY=bench.fake_engine:create_fake_engine` with
`BGREMOVE_WEIGHTS_PATH` pointing at any existing file; it is then tuned by environment variables,
because it lives in the server process, not in the test:

  BENCH_FAKE_BATCH_MS  sleep per batch (default 0): a GPU-like fixed cost that releases the GIL
  BENCH_FAKE_ITEM_MS   extra sleep per item in the batch (default 0)
  BENCH_FAKE_FAIL      "oom": every batch raises `EngineOutOfMemory` (a simulated CUDA OOM);
                       "error": every batch raises `EngineError`; unset: no failures
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np

from service.contract import Alpha, EngineError, EngineOutOfMemory, RGBImage

BATCH_MS_ENV = "BENCH_FAKE_BATCH_MS"
ITEM_MS_ENV = "BENCH_FAKE_ITEM_MS"
FAIL_ENV = "BENCH_FAKE_FAIL"
FACTORY = "bench.fake_engine:create_fake_engine"

FailWhen = Callable[[Sequence[RGBImage]], Exception | None]


def centre_ellipse(height: int, width: int) -> Alpha:
    """A deterministic matte: an ellipse filling the middle of the frame."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = ((yy - height / 2) / max(height / 2.5, 1)) ** 2 + ((xx - width / 2) / max(width / 3, 1)) ** 2
    return np.clip(1.5 - r, 0.0, 1.0).astype(np.float32)


class FakeEngine:
    """A `MattingEngine` whose matte is `centre_ellipse`, or `matte(image)` when given (tests that
    need a known person matte pass a photo's remove.bg mask). `delay_s` per batch plus `item_delay_s`
    per item, plus `batch_growth_s` per item per other item in the batch (a per-item cost that rises
    with the batch size, as on a CPU); sleeps release the GIL, like a GPU. `fail` may return an
    exception to raise for a batch; `gate` holds every batch until it is set (once `gate_after` items
    have been served ungated); `max_batch_size` refuses larger batches."""

    def __init__(
        self,
        name: str = "modnet",
        *,
        delay_s: float = 0.0,
        item_delay_s: float = 0.0,
        fail: FailWhen | None = None,
        bucket_by_shape: bool = True,
        gate: threading.Event | None = None,
        gate_after: int = 0,
        max_batch_size: int | None = None,
        matte: Callable[[RGBImage], Alpha] | None = None,
        batch_growth_s: float = 0.0,
    ) -> None:
        self.matte = matte
        self.name = name  # served by the batcher of that name, exactly where the real engine sits
        self.model_id = f"fake-{name}-1"
        self.delay_s = delay_s
        self.item_delay_s = item_delay_s
        self.fail = fail
        self.bucket_by_shape = bucket_by_shape
        self.gate = gate
        self.gate_after = gate_after
        self.max_batch_size = max_batch_size
        self.batch_growth_s = batch_growth_s
        self.batches: list[int] = []
        self.warmed = False
        self.closed = False
        self._alphas: dict[tuple[int, int], Alpha] = {}
        self._lock = threading.Lock()  # warmup runs on another thread than the batches

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        return height, width  # full resolution, like GrabCut

    def bucket_key(self, image: RGBImage) -> Hashable:
        return image.shape[:2] if self.bucket_by_shape else 0

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        served = sum(self.batches)
        self.batches.append(len(images))
        if self.max_batch_size is not None and len(images) > self.max_batch_size:
            raise EngineError(f"batch of {len(images)} over max_batch_size={self.max_batch_size}")
        if self.gate is not None and served >= self.gate_after:
            self.gate.wait(10)
        n = len(images)
        delay = self.delay_s + self.item_delay_s * n + self.batch_growth_s * n * (n - 1)
        if delay:
            time.sleep(delay)
        if self.fail is not None and (error := self.fail(images)) is not None:
            raise error
        # Copies: the pipeline owns what it gets back; the cache only saves recomputing the ellipse.
        if self.matte is not None:
            return [self.matte(img) for img in images]
        return [self._alpha(img.shape[0], img.shape[1]).copy() for img in images]

    def _alpha(self, height: int, width: int) -> Alpha:
        with self._lock:
            alpha = self._alphas.get((height, width))
            if alpha is None:
                alpha = self._alphas[(height, width)] = centre_ellipse(height, width)
            return alpha

    def warmup(self) -> None:
        self._alpha(8, 8)
        self.warmed = True

    def close(self) -> None:
        self._alphas.clear()
        self.closed = True


def _failure_from_env(value: str) -> FailWhen | None:
    failures: dict[str, Callable[[], Exception]] = {
        "oom": lambda: EngineOutOfMemory("simulated CUDA out of memory"),
        "error": lambda: EngineError("simulated engine failure"),
    }
    if not value:
        return None
    if value not in failures:
        raise ValueError(f"{FAIL_ENV} must be empty, 'oom' or 'error', got {value!r}")
    make = failures[value]
    return lambda images: make()


def create_fake_engine(
    *,
    weights_path: Path,
    device: str,
    inference_size: int,
    max_batch_size: int,
    cpu_precision: str,
    cpu_runtime: str,
    flip_average: bool,
) -> FakeEngine:
    """A `service.contract.EngineFactory`; `weights_path` only has to exist."""
    del weights_path, device, inference_size, cpu_precision, cpu_runtime, flip_average
    return FakeEngine(
        "modnet",
        delay_s=float(os.environ.get(BATCH_MS_ENV, "0")) / 1000.0,
        item_delay_s=float(os.environ.get(ITEM_MS_ENV, "0")) / 1000.0,
        fail=_failure_from_env(os.environ.get(FAIL_ENV, "")),
        max_batch_size=max_batch_size,
    )
