"""Test doubles shared by the suites: a scriptable engine and an in-process app runner."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np

from service.contract import Alpha, RGBImage

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PEOPLE = SHARED / "data" / "people"


def centre_ellipse(h: int, w: int) -> Alpha:
    """A deterministic matte: an ellipse filling the middle of the frame."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((yy - h / 2) / max(h / 2.5, 1)) ** 2 + ((xx - w / 2) / max(w / 3, 1)) ** 2
    return np.clip(1.5 - r, 0.0, 1.0).astype(np.float32)


class FakeEngine:
    """Records every batch it sees; can be slowed down, failed, or gated on an event."""

    def __init__(
        self,
        name: str = "modnet",
        *,
        delay_s: float = 0.0,
        fail: Callable[[Sequence[RGBImage]], Exception | None] | None = None,
        bucket_by_shape: bool = True,
        gate: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.model_id = f"fake-{name}-1"
        self.delay_s = delay_s
        self.fail = fail
        self.bucket_by_shape = bucket_by_shape
        self.gate = gate
        self.batches: list[int] = []
        self.warmed = False
        self.closed = False

    def bucket_key(self, image: RGBImage) -> Hashable:
        return image.shape[:2] if self.bucket_by_shape else 0

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        self.batches.append(len(images))
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail is not None and (error := self.fail(images)) is not None:
            raise error
        return [centre_ellipse(*img.shape[:2]) for img in images]

    def warmup(self) -> None:
        self.warmed = True

    def close(self) -> None:
        self.closed = True
