"""Alpha levels: the network's output on sure background / foreground, from photos with masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from model.training.calibrate import AlphaOf, fit_alpha_levels
from model.training.label_store import LabelledPhoto
from model.training.photos import Photo


def _photo(seed: int, with_mask: bool = True) -> LabelledPhoto:
    rng = np.random.default_rng(seed)
    label = np.zeros((40, 60), np.float32)
    label[10:30, 20:40] = 1.0
    label[10:30, 19] = 0.5  # a soft column: neither sure class
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    photo = Photo(key=f"p/{seed}", image_path=Path("unused.jpg"), mask_path=None)
    mask = label >= 0.5 if with_mask else None
    return LabelledPhoto(photo, image, label, image, label, mask)


def _network_like(lo_level: float, hi_level: float) -> AlphaOf:
    """A fake network whose output rests at about these levels on background / foreground."""

    def alpha_of(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        noise = image[..., 0].astype(np.float32) / 255.0 * 0.02  # 0..0.02 spread
        alpha = np.full(image.shape[:2], lo_level, np.float32) + noise
        alpha[10:30, 20:40] = hi_level - noise[10:30, 20:40]
        return alpha

    return alpha_of


def test_levels_sit_just_beyond_most_sure_pixels() -> None:
    lo, hi = fit_alpha_levels(_network_like(0.03, 0.95), [_photo(i) for i in range(3)])
    assert 0.03 + 0.015 < lo < 0.03 + 0.02  # the 90th percentile of 0.03 + U(0, 0.02)
    assert 0.95 - 0.02 < hi < 0.95 - 0.015


def test_photos_without_masks_are_not_used() -> None:
    with pytest.raises(ValueError, match="masks"):
        fit_alpha_levels(_network_like(0.03, 0.95), [_photo(0, with_mask=False)])


def test_a_network_that_cannot_tell_the_classes_apart_is_left_alone() -> None:
    assert fit_alpha_levels(_network_like(0.4, 0.6), [_photo(0)]) == (0.0, 1.0)


def test_a_non_finite_alpha_is_an_error_not_a_silent_no_stretch() -> None:
    def with_a_nan(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        alpha = _network_like(0.03, 0.95)(image)
        alpha[0, 0] = np.nan
        return alpha

    with pytest.raises(ValueError, match="non-finite alpha on p/1"):
        fit_alpha_levels(with_a_nan, [_photo(1)])
