"""How large a batch pays on this device, measured at warm-up.

Batching amortises a fixed per-call cost (kernel launches, a GPU's idle lanes); on a CPU whose
cores one image already fills, a batch of two costs twice one, or more, and only makes the first
item wait for the second. So at start-up the engine runs batches of 1, 2, 4, ... up to the
`max_batch_size` setting on the serving shape (a 1080p photo's network input), and the batcher's
cap becomes the largest size whose per-item cost still fell by at least `GAIN` against the previous
size. The setting is a ceiling; the cap is in /readyz and `bgremove_batch_cap`.

Measured on the 2-core dev CPU: cap 1 (docs/benchmarks.md); on a GPU the per-item cost keeps falling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.contract import MattingEngine

log = logging.getLogger(__name__)

SERVING_SHAPE = (1080, 1920)  # the photo whose network input the batches are measured at
GAIN = 0.9  # a larger batch must cut the per-item cost by at least 10 % to be worth its wait
REPEATS = 3  # the fastest of this many runs per size: a shared machine only ever adds time


@dataclass(frozen=True)
class BatchCap:
    cap: int
    per_item_s: dict[int, float]  # batch size -> seconds per item (fastest run)


def measure_batch_cap(
    engine: MattingEngine,
    ceiling: int,
    *,
    shape: tuple[int, int] = SERVING_SHAPE,
    repeats: int = REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchCap:
    """Blocking (runs the engine): call it from a worker thread, before the batcher starts."""
    image = np.full((*engine.input_size(*shape), 3), 128, dtype=np.uint8)
    per_item: dict[int, float] = {}
    cap, size = 1, 1
    while True:
        runs = []
        for _ in range(repeats):
            started = clock()
            engine.predict_batch([image] * size)
            runs.append(clock() - started)
        per_item[size] = min(runs) / size
        if size > 1 and per_item[size] > GAIN * per_item[cap]:
            break  # per-item cost stopped falling
        cap = size
        if size >= ceiling:
            break
        size = min(2 * size, ceiling)
    log.info(
        "%s batch cap %d of %d (per-item ms by batch size: %s)",
        engine.name,
        cap,
        ceiling,
        ", ".join(f"{k}: {v * 1000:.1f}" for k, v in per_item.items()),
    )
    return BatchCap(cap, per_item)
