"""Edge-aware upsampling of a low-resolution matte: the edge lands where the photo's edge is."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from service.imaging.guided_filter import guided_upsample


def _scene(height: int = 360, width: int = 480) -> tuple[np.ndarray, np.ndarray]:
    """A textured 'person' disc on a differently coloured textured background, and its true alpha."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    truth = (((yy - height / 2) ** 2 + (xx - width / 2) ** 2) < (height / 3) ** 2).astype(np.float32)
    person = np.array([200, 150, 120], np.float32) + rng.normal(0, 6, (height, width, 3))
    background = np.array([40, 90, 60], np.float32) + rng.normal(0, 6, (height, width, 3))
    image = truth[..., None] * person + (1 - truth[..., None]) * background
    return np.clip(image, 0, 255).astype(np.uint8), truth


def test_guided_upsampling_puts_the_edge_on_the_photos_edge() -> None:
    image, truth = _scene()
    # the network's view, 4x smaller
    small = np.asarray(cv2.resize(truth, (120, 90), interpolation=cv2.INTER_AREA), np.float32)
    bilinear = cv2.resize(small, (480, 360), interpolation=cv2.INTER_LINEAR)
    guided = np.clip(guided_upsample(image, small, radius=2, eps=1e-3), 0, 1)
    assert guided.shape == truth.shape and guided.dtype == np.float32
    edge = cv2.dilate(truth, np.ones((9, 9), np.uint8)) != cv2.erode(truth, np.ones((9, 9), np.uint8))
    bilinear_error = float(np.abs(bilinear - truth)[edge].mean())
    guided_error = float(np.abs(guided - truth)[edge].mean())
    assert guided_error < 0.6 * bilinear_error, (guided_error, bilinear_error)
    # Away from the edge it keeps the matte's own values.
    assert float(np.abs(guided - truth)[~edge].mean()) < 0.02


def test_guided_upsampling_of_a_flat_matte_is_flat() -> None:
    image, _ = _scene(120, 160)
    out = guided_upsample(image, np.full((30, 40), 0.25, np.float32), radius=2, eps=1e-3)
    assert np.allclose(out, 0.25, atol=1e-4)


def test_a_helper_thread_changes_nothing_but_who_computes() -> None:
    """With a helper the coefficients are fitted in two row bands (each with its neighbour's rows
    the box passes reach) and the full-resolution rows are shared: the same values as one thread."""
    image, truth = _scene()
    small = np.asarray(cv2.resize(truth, (120, 90), interpolation=cv2.INTER_AREA), np.float32)
    small += np.random.default_rng(1).normal(0, 0.05, small.shape).astype(np.float32)  # soft everywhere
    alone = guided_upsample(image, small, radius=2, eps=1e-3)
    with ThreadPoolExecutor(1) as helper:
        shared = guided_upsample(image, small, radius=2, eps=1e-3, helper=helper)
    assert np.array_equal(alone, shared)
