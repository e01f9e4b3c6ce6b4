"""A stand-in MODNet engine for load tests against a real server process.

The service loads MODNet through a dotted-path factory, so a real uvicorn process runs this fake
with `BGREMOVE_MODNET_FACTORY=bench.fake_engine:create_fake_engine` and `BGREMOVE_WEIGHTS_PATH`
pointing at any existing file. It is tuned by environment variables because it lives in the server
process, not in the test:

  BENCH_FAKE_BATCH_MS  sleep per batch (default 0): a GPU-like fixed cost that releases the GIL
  BENCH_FAKE_ITEM_MS   extra sleep per item in the batch (default 0)
  BENCH_FAKE_FAIL      "oom": every batch raises `ModelOutOfMemory` (a simulated CUDA OOM);
                       "error": every batch raises `EngineError`; unset: no failures
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np

from service.engines.base import Alpha, EngineError, EngineOutOfMemory, RGBImage

BATCH_MS_ENV = "BENCH_FAKE_BATCH_MS"
ITEM_MS_ENV = "BENCH_FAKE_ITEM_MS"
FAIL_ENV = "BENCH_FAKE_FAIL"
FACTORY = "bench.fake_engine:create_fake_engine"


class ModelOutOfMemory(EngineOutOfMemory):
    """Named like a real engine's CUDA-OOM error; the pipeline maps it to reason=out_of_memory."""


def centre_ellipse(height: int, width: int) -> Alpha:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = ((yy - height / 2) / max(height / 2.5, 1)) ** 2 + ((xx - width / 2) / max(width / 3, 1)) ** 2
    return np.clip(1.5 - r, 0.0, 1.0).astype(np.float32)


class FakeBenchEngine:
    name = "modnet"  # served by the MODNet batcher, exactly where the real engine would sit

    def __init__(self, *, batch_s: float, item_s: float, fail: str, max_batch_size: int) -> None:
        if fail not in ("", "oom", "error"):
            raise ValueError(f"{FAIL_ENV} must be empty, 'oom' or 'error', got {fail!r}")
        self.model_id = "fake-bench-1"
        self.batch_s = batch_s
        self.item_s = item_s
        self.fail = fail
        self.max_batch_size = max_batch_size
        self._alphas: dict[tuple[int, int], Alpha] = {}
        self._lock = threading.Lock()  # warmup runs on another thread than the batches

    def bucket_key(self, image: RGBImage) -> Hashable:
        return image.shape[:2]

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        if len(images) > self.max_batch_size:
            raise EngineError(f"batch of {len(images)} over max_batch_size={self.max_batch_size}")
        delay = self.batch_s + self.item_s * len(images)
        if delay:
            time.sleep(delay)
        if self.fail == "oom":
            raise ModelOutOfMemory("simulated CUDA out of memory")
        if self.fail == "error":
            raise EngineError("simulated engine failure")
        # Copies: the pipeline owns what it gets back; the cache only saves recomputing the ellipse.
        return [self._alpha(img.shape[0], img.shape[1]).copy() for img in images]

    def _alpha(self, height: int, width: int) -> Alpha:
        with self._lock:
            alpha = self._alphas.get((height, width))
            if alpha is None:
                alpha = self._alphas[(height, width)] = centre_ellipse(height, width)
            return alpha

    def warmup(self) -> None:
        self._alpha(8, 8)

    def close(self) -> None:
        self._alphas.clear()


def create_fake_engine(
    *,
    weights_path: Path,
    device: str,
    inference_size: int,
    max_batch_size: int,
    cpu_precision: str,
    cpu_runtime: str,
) -> FakeBenchEngine:
    """The factory signature the service's loader calls; `weights_path` only has to exist."""
    del weights_path, device, inference_size, cpu_precision, cpu_runtime
    return FakeBenchEngine(
        batch_s=float(os.environ.get(BATCH_MS_ENV, "0")) / 1000.0,
        item_s=float(os.environ.get(ITEM_MS_ENV, "0")) / 1000.0,
        fail=os.environ.get(FAIL_ENV, ""),
        max_batch_size=max_batch_size,
    )
