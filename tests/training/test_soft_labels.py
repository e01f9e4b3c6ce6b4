"""Mask + teacher label combination on synthetic cases, and mask reading."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from model.training.photos import read_mask
from model.training.soft_labels import combine_mask_and_teacher, distance_to_boundary, mask_only_fraction


def square_mask(size: int = 200, lo: int = 50, hi: int = 150) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[lo:hi, lo:hi] = True
    return mask


def test_mask_wins_far_from_the_boundary_teacher_near_it() -> None:
    mask = square_mask()
    teacher = np.full(mask.shape, 0.3, np.float32)  # soft everywhere
    teacher[95:105, 95:105] = 0.0  # a hole deep inside the person
    teacher[0:10, 0:10] = 1.0  # a false positive far out in the background
    label = combine_mask_and_teacher(mask, teacher, band_px=8)

    assert np.all(label[95:105, 95:105] == 1.0)  # the hole is filled from the mask
    assert np.all(label[0:10, 0:10] == 0.0)  # the false positive is removed
    on_boundary = distance_to_boundary(mask) <= 8
    assert np.allclose(label[on_boundary], 0.3)  # within the band: the teacher's soft value
    # Between one and two band widths the label moves monotonically from teacher to mask.
    row = label[100, 50 + 8 : 50 + 17]  # inside, walking away from the left edge
    assert np.all(np.diff(row) >= -1e-6) and row[0] < row[-1] <= 1.0


def test_no_seam_between_band_and_mask() -> None:
    mask = square_mask()
    teacher = np.where(mask, 0.6, 0.0).astype(np.float32)  # the teacher is unsure inside
    label = combine_mask_and_teacher(mask, teacher, band_px=6)
    row = label[100, 50:100]  # from the left edge to the centre
    assert np.allclose(row[:5], 0.6) and np.allclose(row[-10:], 1.0)
    # The change from 0.6 to 1.0 is spread over a band width: no step larger than 0.4 / 6.
    assert np.abs(np.diff(row)).max() <= 0.4 / 6 + 0.01


def test_agreeing_sources_give_the_mask() -> None:
    mask = square_mask()
    label = combine_mask_and_teacher(mask, mask.astype(np.float32))
    assert np.array_equal(label, mask.astype(np.float32))


def test_mask_only_fraction_flags_objects_the_teacher_calls_background() -> None:
    mask = square_mask(200, 20, 180)
    teacher = mask.astype(np.float32)
    assert mask_only_fraction(mask, teacher, band_px=4) == 0.0
    teacher[20:180, 100:180] = 0.0  # the right half of the "person" is an object to the teacher
    assert 0.3 < mask_only_fraction(mask, teacher, band_px=4) < 0.5


def test_small_masks_are_scaled_to_the_image(tmp_path: Path) -> None:
    small = np.zeros((50, 40), np.uint8)
    small[10:40, 10:30] = 255
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), small)
    mask = read_mask(path, 100, 80)
    assert mask.shape == (100, 80) and mask.dtype == bool
    assert mask[50, 40] and not mask[5, 5]
    assert abs(mask.mean() - (small > 0).mean()) < 0.02
