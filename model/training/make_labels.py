"""Stage `labels`: run the teacher over every photo once and cache the combined labels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from model.training.label_store import LabelStore
from model.training.photos import Photo
from model.training.soft_labels import MAX_MASK_ONLY_FRACTION, mask_only_fraction


@dataclass
class LabelStats:
    photos: int
    masked: int
    seconds: float
    excluded: list[tuple[str, float]]  # masks keeping non-person objects: not trained on


def make_labels(photos: list[Photo], cache_dir: Path, teacher_onnx: Path, verbose: bool = True) -> LabelStats:
    store = LabelStore(cache_dir, teacher_onnx)
    start = time.perf_counter()
    corrections: list[tuple[str, float]] = []
    for index, photo in enumerate(photos, 1):
        item = store.load(photo)
        if item.mask is not None:
            corrections.append((photo.key, mask_only_fraction(item.mask, item.teacher_alpha)))
        if verbose and (index % 25 == 0 or index == len(photos)):
            print(f"labels: {index}/{len(photos)} ({time.perf_counter() - start:.0f} s)", flush=True)
    excluded = [(key, fraction) for key, fraction in corrections if fraction > MAX_MASK_ONLY_FRACTION]
    return LabelStats(len(photos), len(corrections), time.perf_counter() - start, excluded)
