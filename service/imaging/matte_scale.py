"""The two resizes around a network engine, both in the CPU pool: the photo shrunk to the engine's
input (uint8, area-averaged) before it is queued, and the engine's low-resolution matte brought
back to the photo's size afterwards, so the engine thread runs the network and nothing else.

Upsampling is edge-aware by default (`Upsampling.GUIDED`: the guided filter's coefficients fitted
at the matte's resolution, applied to the full-resolution photo, `guided_filter.guided_upsample`),
so edges land on the photo's edges instead of being smeared over the scale factor (3.4x at 1080p
from a 320-px input). Radius and eps were chosen with `python -m bench.edge_upsample` on the scene
validation photos (docs/benchmarks.md, "Matte upsampling"). `Upsampling.BILINEAR` is the old way.

Training validation and the benches go the same way through `matte_at_full_size`, so a score
measured there is the score of what is served. Pure functions, safe to call from several threads.
"""

from __future__ import annotations

from concurrent.futures import Executor
from enum import StrEnum

import cv2
import numpy as np

from service.contract import Alpha, MattingEngine, RGBImage
from service.imaging.guided_filter import guided_upsample
from service.imaging.islands import MIN_ISLAND_FRACTION, drop_islands

# Chosen by measurement (bench.edge_upsample): radius in low-resolution pixels, eps for a guide in [0, 1].
GUIDED_RADIUS = 1
GUIDED_EPS = 1e-5


class Upsampling(StrEnum):
    GUIDED = "guided"
    BILINEAR = "bilinear"


def shrink(image: RGBImage, size: tuple[int, int]) -> RGBImage:
    """`image` at (h, w) `size`: area-averaged on uint8 (what the network's reference resize does),
    the image itself when it already has that size.

    A photo at least twice the size is first halved (exact 2x2 means) while it stays so, then
    area-averaged the rest of the way: OpenCV's area resize has a fast path for exact integer
    factors and a slow general one, so 1080p -> 320 x 544 took 5.1 ms in one step and 2.2 ms this
    way (12 MP: three halvings), on pixels at most 6 levels (mean 0.15) from the one-step result."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height <= image.shape[0] and width <= image.shape[1]
    if not shrinking:
        return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR))
    while _halvable(image.shape[:2], size):
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = np.asarray(cv2.resize(image, half, interpolation=cv2.INTER_AREA), np.uint8)
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def _halvable(shape: tuple[int, ...], size: tuple[int, int]) -> bool:
    """Halving `shape` keeps it at least `size` and is exact (even sides)."""
    return all(side % 2 == 0 and side >= 2 * target for side, target in zip(shape, size, strict=True))


def upsample(
    image: RGBImage,
    small: Alpha,
    method: Upsampling = Upsampling.GUIDED,
    *,
    guide_small: RGBImage | None = None,
    helper: Executor | None = None,
    min_island: float = MIN_ISLAND_FRACTION,
) -> Alpha:
    """`small` (a matte predicted from `shrink(image, ...)`, which `guide_small` may pass on so it
    is not shrunk again) at the photo's full size, in [0, 1], its foreground islands smaller than
    `min_island` of the largest dropped first (`islands`; 0 keeps them); `helper`: an executor whose
    idle thread may share the full-resolution rows (`shared_work`)."""
    small = drop_islands(small, min_island)
    height, width = image.shape[:2]
    if small.shape == (height, width):
        return small
    if small.shape[0] > height or small.shape[1] > width:
        # A photo smaller than the network input (it was enlarged): area-average back down.
        down = cv2.resize(small, (width, height), interpolation=cv2.INTER_AREA)
        return np.clip(down, 0.0, 1.0, dtype=np.float32)
    if method is Upsampling.GUIDED:
        up = guided_upsample(image, small, GUIDED_RADIUS, GUIDED_EPS, guide_small=guide_small, helper=helper)
    else:
        up = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)
    return np.clip(up, 0.0, 1.0, out=up)  # a fresh array either way: clipped in place


def matte_at_full_size(
    engine: MattingEngine, image: RGBImage, method: Upsampling = Upsampling.GUIDED
) -> Alpha:
    """One image the served way, outside the service (training validation, export, benches):
    shrink to the engine's input, run it, upsample."""
    small = shrink(image, engine.input_size(image.shape[0], image.shape[1]))
    (alpha,) = engine.predict_batch([small])
    return upsample(image, alpha, method, guide_small=small)
