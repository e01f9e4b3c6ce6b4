"""refine=trimap: a matte predicted at low resolution gets sharper, truer edges at full resolution."""

from __future__ import annotations

import numpy as np
import pytest

from service.imaging.refine import (
    MIN_BAND,
    TRIMAP_BG,
    TRIMAP_FG,
    TRIMAP_UNKNOWN,
    band_radius,
    build_trimap,
    refine_with_trimap,
)
from tests.imaging.matting_scenes import portrait, predicted_at_low_resolution


@pytest.mark.parametrize(("h", "w"), [(720, 960), (1080, 1440)])
def test_refinement_reduces_the_alpha_error_in_the_band(h: int, w: int) -> None:
    scene = portrait(h, w, edge_width=2.0)  # a crisp edge, as in a high-resolution photo
    predicted = predicted_at_low_resolution(scene.alpha)
    band = build_trimap(predicted) == TRIMAP_UNKNOWN
    before = np.abs(predicted - scene.alpha)[band].mean()
    refined = refine_with_trimap(scene.image, predicted)
    after = np.abs(refined - scene.alpha)[band].mean()
    # Measured: about 3x lower. Over the whole frame it must not get worse either.
    assert after < 0.5 * before, (before, after)
    assert np.abs(refined - scene.alpha).mean() < np.abs(predicted - scene.alpha).mean()


def test_sure_regions_are_exact_and_only_the_band_changes() -> None:
    scene = portrait(300, 400, edge_width=2.0)
    predicted = predicted_at_low_resolution(scene.alpha, net_short_side=96)
    trimap = build_trimap(predicted)
    refined = refine_with_trimap(scene.image, predicted)
    assert refined.dtype == np.float32 and refined.shape == predicted.shape
    assert np.all(refined[trimap == TRIMAP_FG] == 1.0)
    assert np.all(refined[trimap == TRIMAP_BG] == 0.0)
    assert refined.min() >= 0.0 and refined.max() <= 1.0
    # The band really is re-solved (not just copied).
    band = trimap == TRIMAP_UNKNOWN
    assert not np.allclose(refined[band], predicted[band], atol=1e-3)


def test_trimap_band_follows_the_image_size_and_keeps_soft_wisps_unknown() -> None:
    assert band_radius(1080, 1920) == 11 and band_radius(2160, 3840) == 22 and band_radius(1, 1) == MIN_BAND
    alpha = np.zeros((200, 200), np.float32)
    alpha[50:150, 50:150] = 1.0
    alpha[10, 10] = 0.3  # a faint strand far from the body
    trimap = build_trimap(alpha, radius=5)
    assert trimap[100, 100] == TRIMAP_FG and trimap[190, 190] == TRIMAP_BG
    assert trimap[10, 10] == TRIMAP_UNKNOWN
    assert trimap[100, 47] == TRIMAP_UNKNOWN and trimap[100, 52] == TRIMAP_UNKNOWN
    assert trimap[100, 40] == TRIMAP_BG and trimap[100, 60] == TRIMAP_FG


@pytest.mark.parametrize("shape", [(1, 1), (1, 20000), (20000, 1), (2, 2), (5, 3)])
def test_tiny_and_odd_shapes(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = rng.random(shape, dtype=np.float32)
    out = refine_with_trimap(rgb, alpha)
    assert out.shape == shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def test_all_background_and_all_foreground() -> None:
    rgb = np.full((50, 60, 3), 128, np.uint8)
    assert np.all(refine_with_trimap(rgb, np.zeros((50, 60), np.float32)) == 0.0)
    assert np.all(refine_with_trimap(rgb, np.ones((50, 60), np.float32)) == 1.0)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        refine_with_trimap(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4), np.float32))
