"""Real photos with their remove.bg masks, and engines whose matte IS that mask: through the app, the
framing (crop, margins, size) can then be checked against the mask exactly, pixel for pixel."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image

from bench.fake_engine import FakeEngine
from service.contract import Alpha, RGBImage
from service.engines.loader import EngineSet
from tests.locations import PEOPLE, require_shared

DATASET = PEOPLE / "segmentation-remove-bg"
PHOTOS = ("102", "101", "10")  # 612x408, 786x505 (a smaller mask, resized), 275x183


def photo_bytes(name: str) -> bytes:
    return require_shared(DATASET / "images" / f"{name}.jpg").read_bytes()


@cache
def person_mask(name: str) -> np.ndarray:
    """The photo's remove.bg mask at the photo's size, uint8."""
    with Image.open(io.BytesIO(photo_bytes(name))) as photo:
        size = photo.size
    with Image.open(require_shared(DATASET / "masks" / f"{name}.png")) as mask:
        return np.asarray(mask.convert("L").resize(size, Image.Resampling.NEAREST))


def _mask_matte(image: RGBImage) -> Alpha:
    # The photos differ in size, so the image's shape says which photo it is.
    for name in PHOTOS:
        mask = person_mask(name)
        if mask.shape == image.shape[:2]:
            return (mask.astype(np.float32) / 255.0).astype(np.float32)
    raise AssertionError(f"no remove.bg mask for an image of shape {image.shape}")


def mask_engines() -> EngineSet:
    """MODNet's seat held by an engine whose matte is the photo's remove.bg mask."""
    return EngineSet(grabcut=FakeEngine("grabcut"), modnet=FakeEngine("modnet", matte=_mask_matte))


def box_of(alpha: np.ndarray, threshold: int = 10) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of alpha > threshold (the service's subject threshold)."""
    rows = np.flatnonzero((alpha > threshold).any(axis=1))
    cols = np.flatnonzero((alpha > threshold).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
