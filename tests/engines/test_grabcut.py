"""The GrabCut engine on synthetic images: the protocol, odd shapes, determinism, soft edges."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from bench.grabcut_iou import iou
from service.contract import MattingEngine
from service.engines.grabcut import GrabCutEngine, segment_rectangle
from service.engines.person_detect import Box, PersonDetector
from service.engines.person_prior import body_prior, centre_prior, face_prior


def figure(h: int = 360, w: int = 270, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A person-shaped figure (head, neck, shoulders down to the bottom edge) on a textured sky and
    ground, plus its true mask. Cartoon faces do not trigger the face detector: the centre prior
    is what is under test here."""
    rng = np.random.default_rng(seed)
    yy = np.mgrid[0:h, 0:w][0]
    image = np.empty((h, w, 3), np.float32)
    image[...] = (110, 170, 225)
    image[yy > 0.7 * h] = (90, 140, 70)
    image += rng.normal(0, 8, image.shape)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, int(0.3 * h)), (int(0.12 * w), int(0.11 * h)), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (int(0.44 * w), int(0.38 * h)), (int(0.56 * w), int(0.48 * h)), 1, -1)
    cv2.ellipse(mask, (w // 2, h), (int(0.3 * w), int(0.55 * h)), 0, 180, 360, 1, -1)
    person = mask.astype(bool)
    skin = yy < 0.45 * h
    for region, colour in ((person & skin, (205, 160, 130)), (person & ~skin, (150, 30, 40))):
        image[region] = np.array(colour, np.float32) + rng.normal(0, 6, (np.count_nonzero(region), 3))
    return np.clip(image, 0, 255).astype(np.uint8), person


def test_satisfies_the_engine_protocol() -> None:
    engine = GrabCutEngine()
    assert isinstance(engine, MattingEngine)
    assert engine.name == "grabcut"
    assert engine.model_id == f"grabcut-opencv-{cv2.__version__}"
    small, large = np.zeros((10, 10, 3), np.uint8), np.zeros((500, 300, 3), np.uint8)
    assert engine.bucket_key(small) == engine.bucket_key(large)  # no batching constraint
    engine.warmup()
    engine.close()


def test_bundled_detectors_are_available() -> None:
    # Pinned opencv-python-headless < 5 ships the Haar cascades; without them only the centre prior runs.
    detector = PersonDetector()
    assert detector.faces_available and detector.bodies_available


def test_finds_the_figure_and_returns_one_alpha_per_image() -> None:
    image, truth = figure()
    other, other_truth = figure(300, 400, seed=1)
    alphas = GrabCutEngine().predict_batch([image, other])
    assert len(alphas) == 2
    for alpha, img, mask in zip(alphas, (image, other), (truth, other_truth), strict=True):
        assert alpha.dtype == np.float32 and alpha.shape == img.shape[:2]
        assert alpha.min() >= 0.0 and alpha.max() <= 1.0
        assert iou(alpha, mask) > 0.85


def test_edges_are_soft_at_full_resolution() -> None:
    image, truth = figure(720, 540)  # above the work size: the cut is scaled up, then guided
    alpha = GrabCutEngine().predict_batch([image])[0]
    edge = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
    soft = (alpha > 0.02) & (alpha < 0.98)
    assert soft[edge].mean() > 0.3  # the boundary is feathered ...
    assert soft[~edge].mean() < 0.05  # ... and the rest is not


def test_is_deterministic_across_calls_and_threads() -> None:
    image, _ = figure()
    engine = GrabCutEngine()
    first = engine.predict_batch([image])[0]
    with ThreadPoolExecutor(max_workers=3) as pool:
        others = list(pool.map(lambda _: engine.predict_batch([image])[0], range(3)))
    for other in others:
        assert np.array_equal(first, other)


@pytest.mark.parametrize(
    "shape", [(1, 1), (2, 2), (1, 20000), (20000, 1), (15, 15), (16, 16), (17, 3000), (3000, 17), (40, 40)]
)
def test_tiny_and_odd_shapes(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = GrabCutEngine().predict_batch([image])[0]
    assert alpha.shape == shape and alpha.dtype == np.float32
    assert np.isfinite(alpha).all() and alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_tiny_images_are_kept_whole() -> None:
    alpha = GrabCutEngine().predict_batch([np.zeros((1, 20000, 3), np.uint8)])[0]
    assert np.all(alpha == 1.0)


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_images_do_not_fail(value: int) -> None:
    # One colour gives GrabCut no second colour model; the engine must still answer.
    alpha = GrabCutEngine().predict_batch([np.full((120, 90, 3), value, np.uint8)])[0]
    assert alpha.shape == (120, 90) and np.isfinite(alpha).all()


def test_baseline_rectangle_keeps_its_margin_as_background() -> None:
    image, _ = figure()
    alpha = segment_rectangle(image, margin=0.1)
    h, w = alpha.shape
    assert alpha[: int(0.08 * h)].max() < 0.5 and alpha[:, : int(0.08 * w)].max() < 0.5


def test_priors_paint_a_certain_core_inside_a_probable_person() -> None:
    faces = [Box(40, 30, 20, 20), Box(120, 35, 18, 18)]
    labels = face_prior((200, 200), faces)
    for f in faces:
        assert labels[f.y + f.h // 2, f.x + f.w // 2] == cv2.GC_FGD  # the face itself
        assert labels[f.y + int(1.5 * f.h), f.x + f.w // 2] == cv2.GC_FGD  # neck / chest
        assert labels[f.y + 4 * f.h, f.x + f.w // 2] == cv2.GC_PR_FGD  # body
    assert labels[195, 195] == cv2.GC_BGD or labels[195, 195] == cv2.GC_PR_BGD
    # A pedestrian window: certain torso, probable body, certain background far away.
    body = body_prior((300, 300), [Box(100, 50, 64, 128)])
    assert body[50 + 50, 100 + 32] == cv2.GC_FGD and body[50 + 110, 100 + 25] == cv2.GC_PR_FGD
    assert body[5, 5] == cv2.GC_BGD
    # The centre prior has certain background only at the top and the sides.
    centre = centre_prior((100, 80))
    assert centre[0, 40] == cv2.GC_BGD and centre[50, 0] == cv2.GC_BGD and centre[99, 40] != cv2.GC_BGD


def test_small_background_coloured_spots_inside_the_person_are_filled() -> None:
    image, truth = figure()
    h, w = truth.shape
    # A sky-blue "button" on the chest: GrabCut's colour models give it to the background.
    cy, cx = int(0.8 * h), w // 2
    image[cy - 3 : cy + 3, cx - 3 : cx + 3] = (110, 170, 225)
    alpha = GrabCutEngine().predict_batch([image])[0]
    assert alpha[cy, cx] > 0.5
