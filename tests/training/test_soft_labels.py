"""Mask + teacher label combination on synthetic cases, and mask reading."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from model.training.label_store import LabelStore
from model.training.photos import HAIR, Photo, read_mask
from model.training.soft_labels import (
    combine_mask_and_teacher,
    distance_to_boundary,
    keep_masked_hair,
    mask_only_fraction,
)


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
    distance = distance_to_boundary(mask)
    outside_band = ~mask & (distance <= 8)
    assert np.allclose(label[outside_band], 0.3)  # outside, within the band: the teacher's soft value
    # Between one and two band widths outside, the label moves monotonically from teacher to mask.
    row = label[100, 50 - 17 : 50 - 8][::-1]  # outside, walking away from the left edge
    assert np.all(np.diff(row) <= 1e-6) and 0.0 <= row[-1] < row[0]
    # Inside, the edge stays soft (the mask ramps in over 2 px here), then it is the mask's.
    edge = mask & (distance <= 1)
    assert edge.any() and np.all((label[edge] > 0.3) & (label[edge] < 1.0))
    assert np.all(label[mask & (distance >= 2)] == 1.0)


def test_a_limb_the_teacher_missed_stays_in_the_label() -> None:
    mask = square_mask()
    mask[90:110, 150:190] = True  # an arm 20 px thick: all of it within two 16-px bands
    teacher = square_mask().astype(np.float32)  # the teacher has the body and drops the arm
    label = combine_mask_and_teacher(mask, teacher, band_px=16)
    arm = label[90:110, 155:188]
    assert np.mean(arm >= 0.5) >= 0.8  # was all teacher (0.0) with the band rule alone
    assert np.all(label[94:106, 150:186] == 1.0)  # its core is the mask's


def test_no_seam_between_band_and_mask() -> None:
    mask = square_mask()
    teacher = np.where(mask, 1.0, 0.4).astype(np.float32)  # the teacher keeps a haze around the person
    label = combine_mask_and_teacher(mask, teacher, band_px=6)
    row = label[100, 0:50][::-1]  # outside, from the left edge out to the image border
    assert np.allclose(row[:5], 0.4) and np.allclose(row[-10:], 0.0)
    # The change from 0.4 to 0.0 is spread over a band width: no step larger than 0.4 / 6.
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


def test_hair_the_teacher_dropped_stays_in_a_hair_photos_label() -> None:
    hair = square_mask()
    teacher = np.full(hair.shape, 0.2, np.float32)  # a soft haze: face and background unknown to the mask
    teacher[60:140, 60:100] = 0.0  # the teacher lost the left of the hair
    label = keep_masked_hair(hair, teacher, band_px=10)
    distance = distance_to_boundary(hair)
    assert np.all(label[hair & (distance >= 2)] == 1.0)  # the hair the mask marks is foreground
    edge = hair & (distance <= 1)
    assert np.all((label[edge] >= teacher[edge]) & (label[edge] < 1.0))  # its edge stays soft
    assert np.array_equal(label[~hair], teacher[~hair])  # beyond the hair the teacher's values stand


def test_label_store_raises_hair_photos_to_their_hair_mask_and_leaves_unmasked_photos_alone(
    tmp_path: Path,
) -> None:
    hair = square_mask()
    path = tmp_path / "hair.png"
    cv2.imwrite(str(path), hair.astype(np.uint8) * 255)
    teacher = np.zeros(hair.shape, np.float32)  # the teacher lost all the hair
    with_hair = Photo("figaro1k-hair/x", tmp_path / "x.jpg", None, hair_mask_path=path, category=HAIR)
    assert LabelStore.combine(with_hair, None, teacher)[100, 100] == 1.0
    unmasked = Photo("unlabelled/x", tmp_path / "x.jpg", None)
    assert LabelStore.combine(unmasked, None, teacher) is teacher
