"""The guided filter's defining properties, checked against what the maths says it must do."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from service.imaging.guided_filter import _coefficients_color, guided_filter, guided_upsample
from service.imaging.matte_scale import GUIDED_EPS, GUIDED_RADIUS, shrink
from tests.locations import PEOPLE, require_shared


def _smooth_colour_guide(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3), dtype=np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 3.0) * 4 - 1.5, 0, 1).astype(np.float32)


@pytest.mark.parametrize("subsample", [1, 3])
def test_a_linear_function_of_the_colour_guide_passes_through(subsample: int) -> None:
    guide = _smooth_colour_guide(90, 120)
    src = (0.3 * guide[..., 0] + 0.5 * guide[..., 1] - 0.2 * guide[..., 2] + 0.1).astype(np.float32)
    out = guided_filter(guide, src, radius=6, eps=1e-6, subsample=subsample)
    # The filter fits q = a.I + b per window: an exact linear function is reproduced.
    assert np.abs(out - src).max() < (0.01 if subsample == 1 else 0.03)


def test_grey_guide_keeps_a_step_edge_that_a_box_blur_destroys() -> None:
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    noisy = np.clip(step + np.random.default_rng(1).normal(0, 0.05, step.shape), 0, 1).astype(np.float32)
    out = guided_filter(step, noisy, radius=6, eps=1e-3)
    blurred = cv2.blur(noisy, (13, 13))
    assert np.abs(out - step).mean() < 0.3 * np.abs(blurred - step).mean()
    assert out[:, 30].mean() < 0.1 and out[:, 33].mean() > 0.9


def test_large_eps_is_a_plain_box_mean() -> None:
    guide = _smooth_colour_guide(40, 50)
    src = np.random.default_rng(2).random((40, 50), dtype=np.float32)
    out = guided_filter(guide, src, radius=3, eps=1e6)
    # With a -> 0, q = mean(b) = mean(mean(p)): a box filter applied twice.
    twice = cv2.boxFilter(
        cv2.boxFilter(src, -1, (7, 7), borderType=cv2.BORDER_REFLECT),
        -1,
        (7, 7),
        borderType=cv2.BORDER_REFLECT,
    )
    assert np.allclose(out, twice, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 1), (1, 30), (2, 2), (7, 3)])
def test_tiny_images(shape: tuple[int, int]) -> None:
    guide = np.random.default_rng(3).random((*shape, 3), dtype=np.float32)
    src = guide[..., 0].copy()
    for sub in (1, 4):
        out = guided_filter(guide, src, radius=8, eps=1e-3, subsample=sub)
        assert out.shape == shape and np.isfinite(out).all()


def test_size_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        guided_filter(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32), 2, 1e-3)


@pytest.mark.parametrize("subsample", [1, 4])
def test_uint8_guide_reads_as_value_over_255(subsample: int) -> None:
    guide = (_smooth_colour_guide(64, 96) * 255).round().astype(np.uint8)
    src = np.random.default_rng(4).random((64, 96), dtype=np.float32)
    as_bytes = guided_filter(guide, src, radius=8, eps=1e-3, subsample=subsample)
    as_floats = guided_filter(guide.astype(np.float32) / np.float32(255), src, 8, 1e-3, subsample)
    # Equal up to the rounding of a uint8 downscale.
    assert np.abs(as_bytes - as_floats).max() < (1e-5 if subsample == 1 else 0.05)


def test_flat_windows_of_a_real_photo_give_a_finite_matte() -> None:
    """remove.bg/238 at the network's 320 x 416 has windows whose float32 covariance rounds to a
    zero determinant; 1/det made the upsampled matte NaN there (1,050 pixels), whatever the matte."""
    path = require_shared(PEOPLE / "segmentation-remove-bg" / "images" / "238.jpg")
    photo = np.asarray(Image.open(path).convert("RGB"))
    small = shrink(photo, (320, 416))
    ramp = np.tile(np.linspace(0.0, 1.0, 416, dtype=np.float32), (320, 1))
    out = guided_upsample(photo, ramp, GUIDED_RADIUS, GUIDED_EPS, guide_small=small)
    assert out.shape == photo.shape[:2]
    assert np.isfinite(out).all()
    # Still the guided result, not a flattened one: it follows the ramp across the photo.
    columns = out.mean(axis=0)
    assert columns[-40:].mean() - columns[:40].mean() > 0.8


def _numpy_colour_fit(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, ...]:
    """The colour fit written as numpy expressions (the service's implementation before it was
    compiled): the reference the compiled planes must reproduce bit for bit."""

    def mean(x: np.ndarray) -> np.ndarray:
        k = 2 * radius + 1
        return np.asarray(cv2.boxFilter(x, -1, (k, k), borderType=cv2.BORDER_REFLECT), np.float32)

    r, g, bl = (np.ascontiguousarray(guide[..., c]) for c in range(3))
    mr, mg, mb, mp = (mean(x) for x in (r, g, bl, src))
    e = np.float32(eps)
    rr, gg, bb = (mean(x * x) - m * m + e for x, m in ((r, mr), (g, mg), (bl, mb)))
    rg, rb, gb = mean(r * g) - mr * mg, mean(r * bl) - mr * mb, mean(g * bl) - mg * mb
    cr, cg, cb = mean(r * src) - mr * mp, mean(g * src) - mg * mp, mean(bl * src) - mb * mp
    c00, c01, c02 = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    c11, c12, c22 = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * c00 + rg * c01 + rb * c02
    inv_det = np.zeros_like(det)
    np.divide(1.0, det, out=inv_det, where=det >= np.float32(eps**3 / 2))
    a0 = (c00 * cr + c01 * cg + c02 * cb) * inv_det
    a1 = (c01 * cr + c11 * cg + c12 * cb) * inv_det
    a2 = (c02 * cr + c12 * cg + c22 * cb) * inv_det
    return a0, a1, a2, mp - a0 * mr - a1 * mg - a2 * mb


@pytest.mark.parametrize("key", ["238", "100", "106"])
def test_the_compiled_colour_fit_is_the_numpy_fit_bit_for_bit(key: str) -> None:
    """Real photos at the network's size (their nearly flat windows are where a reordered sum moved
    matte pixels by up to 0.93) with a soft matte-like source: the same bits as numpy's fit."""
    path = require_shared(PEOPLE / "segmentation-remove-bg" / "images" / f"{key}.jpg")
    photo = np.asarray(Image.open(path).convert("RGB"))
    small = shrink(photo, (320, 416))
    guide = small.astype(np.float32) * np.float32(1.0 / 255.0)
    disc = np.zeros((320, 416), np.float32)
    cv2.ellipse(disc, (208, 190), (120, 160), 0, 0, 360, 1.0, -1)
    src = np.clip(cv2.GaussianBlur(disc, (0, 0), 6.0), 0, 1).astype(np.float32)
    a, b = _coefficients_color(guide, src, GUIDED_RADIUS, GUIDED_EPS)
    expected = _numpy_colour_fit(guide, src, GUIDED_RADIUS, GUIDED_EPS)
    for got, want in zip((a[..., 0], a[..., 1], a[..., 2], b), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.abs(a).max() > 1.0  # the photo has edges: a real fit, not all-zero slopes
