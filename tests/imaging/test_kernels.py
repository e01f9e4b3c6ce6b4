"""The compiled full-resolution passes against the OpenCV operations they replaced: bilinear taps
as cv2.resize(INTER_LINEAR) places them, the guided formula where a tap is active, the fuse only at
soft pixels with OpenCV's rounding."""

from __future__ import annotations

import cv2
import numpy as np

from service.imaging.blend import quantize_alpha
from service.imaging.kernels import fuse_rows, guided_rows


def _upsampled(small: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)


def test_guided_rows_apply_the_upsampled_coefficients_where_a_tap_is_active() -> None:
    rng = np.random.default_rng(0)
    height, width, small_h, small_w = 75, 130, 20, 37  # non-integer scales on both axes
    guide = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    coefficients = rng.normal(0, 0.01, (small_h, small_w, 4)).astype(np.float32)
    active = np.zeros((small_h, small_w), np.bool_)
    active[5:12, 10:25] = True
    out = np.full((height, width), -7.0, np.float32)  # untouched where no tap is active
    guided_rows(guide, coefficients, active, 0, height, out)

    up = _upsampled(coefficients, height, width)
    expected = (up[..., :3] * guide.astype(np.float32)).sum(axis=2) + up[..., 3]
    reached = _upsampled(active.astype(np.float32), height, width) > 0
    assert np.allclose(out[reached], expected[reached], atol=1e-4)
    assert (out[~reached] == -7.0).all() and reached.any() and (~reached).any()


def test_guided_rows_write_only_their_own_rows() -> None:
    guide = np.zeros((40, 40, 3), np.uint8)
    coefficients = np.ones((10, 10, 4), np.float32)
    out = np.zeros((40, 40), np.float32)
    guided_rows(guide, coefficients, np.ones((10, 10), np.bool_), 8, 16, out)
    assert (out[8:16] == 1.0).all() and (out[:8] == 0).all() and (out[16:] == 0).all()


def test_fuse_rows_follow_the_compositing_equation_at_soft_pixels_only() -> None:
    rng = np.random.default_rng(1)
    height, width, step = 48, 63, 3  # multiples of the step, as cv2.resize by exactly 3 needs
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    alpha8 = rng.integers(0, 256, (height, width), dtype=np.uint8)
    alpha8[:, :8] = 0
    alpha8[:, -8:] = 255
    mean_fg = rng.random((height // step, width // step, 3), dtype=np.float32)
    mean_bg = rng.random((height // step, width // step, 3), dtype=np.float32)
    out = rgb.copy()
    fuse_rows(rgb, alpha8, mean_fg, mean_bg, step, 0, height, out)

    a = (alpha8.astype(np.float32) / 255.0)[..., None]
    fg, bg = _upsampled(mean_fg, height, width), _upsampled(mean_bg, height, width)
    expected = fg * (1 - a * a) * 255 + a * rgb - bg * a * (1 - a) * 255
    soft = (alpha8 > 0) & (alpha8 < 255)
    difference = np.abs(out.astype(np.float32) - np.clip(np.rint(expected), 0, 255))[soft]
    assert difference.max() <= 1.0 and difference.mean() < 0.01  # float rounding at .5 only
    assert np.array_equal(out[~soft], rgb[~soft])  # opaque and invisible pixels keep their bytes


def test_quantize_alpha_rounds_every_level_as_numpy_does_on_any_layout() -> None:
    # Each level's half-way points and their neighbours, in float32 like the engines' mattes.
    halfway = (np.arange(256, dtype=np.float64) + 0.5) / 255
    values = np.concatenate([halfway - 1e-6, halfway, halfway + 1e-6, np.linspace(-0.2, 1.2, 999)])
    alpha = values.astype(np.float32)
    expected = np.rint(np.clip(alpha, 0, 1) * np.float32(255)).astype(np.uint8)
    assert np.array_equal(quantize_alpha(alpha), expected)
    grid = np.resize(alpha, (40, 50))
    view = grid[::2, 1::3]  # strided, not contiguous
    assert np.array_equal(quantize_alpha(view), expected_of(view))
    assert np.array_equal(quantize_alpha(view.astype(np.float64)), expected_of(view))
    assert quantize_alpha(view).shape == view.shape


def expected_of(alpha: np.ndarray) -> np.ndarray:
    return np.asarray(np.rint(np.clip(alpha, 0, 1) * np.float32(255)), dtype=np.uint8)
