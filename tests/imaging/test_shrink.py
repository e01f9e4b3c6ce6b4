"""The photo shrunk to the network's input: area means, halved first while the photo is at least
twice the size (OpenCV's exact 2x path), then area-averaged the rest of the way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from service.imaging.matte_scale import shrink


def _photo(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(height + width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # Photo-like: structure a few pixels wide at the network's input, a little sensor noise.
    xx, yy = xx * 200 / width, yy * 200 / width
    smooth = np.stack([np.sin(xx) * 90, np.sin(yy * 1.4) * 90, np.sin((xx + yy) * 1.9) * 90], axis=-1)
    return np.clip(128 + smooth + rng.normal(0, 3, smooth.shape), 0, 255).astype(np.uint8)


def _one_step(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize(
    ("shape", "size"),
    [((1080, 1920), (320, 544)), ((3000, 4000), (320, 416)), ((641, 960), (320, 448))],
)
def test_a_shrunk_photo_stays_within_a_few_levels_of_one_area_step(
    shape: tuple[int, int], size: tuple[int, int]
) -> None:
    photo = _photo(*shape)
    small = shrink(photo, size)
    assert small.shape == (*size, 3) and small.dtype == np.uint8 and small.flags.c_contiguous
    difference = np.abs(small.astype(np.int16) - _one_step(photo, size))
    # Different area weights, not a different picture: decimating instead of averaging, or a shift
    # by a source pixel, is 16-66 levels off at most and 3-19 on average on this pattern.
    assert difference.max() <= 12
    assert difference.mean() <= 3


def test_halving_is_exact_2x2_means_and_stops_at_twice_the_target() -> None:
    photo = _photo(64, 96)
    quads = photo.astype(np.float32).reshape(32, 2, 48, 2, 3).mean(axis=(1, 3))
    # 64 x 96 -> 32 x 48 is itself an exact halving: the 2x2 block means, rounded.
    assert np.abs(shrink(photo, (32, 48)).astype(np.float32) - quads).max() <= 0.5
    # 64 x 96 -> 20 x 30: halved once (32 x 48 is not twice 20 x 30), then one area step.
    expected = _one_step(np.asarray(cv2.resize(photo, (48, 32), interpolation=cv2.INTER_AREA)), (20, 30))
    assert np.array_equal(shrink(photo, (20, 30)), expected)
    assert not np.array_equal(expected, _one_step(photo, (20, 30)))  # the two ways do differ


def test_odd_sides_are_not_halved_and_small_photos_are_enlarged() -> None:
    photo = _photo(99, 151)
    assert np.array_equal(shrink(photo, (30, 40)), _one_step(photo, (30, 40)))
    enlarged = shrink(photo, (128, 160))
    linear = cv2.resize(photo, (160, 128), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(enlarged, linear)
    assert shrink(photo, (99, 151)) is photo
