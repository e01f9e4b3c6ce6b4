"""GrabCut against remove.bg's masks on real photos from ../shared (fails where it is absent).

Floors come from `python -m bench.grabcut_iou` (all 250 photos: mean IoU 0.72 with the person
prior, 0.49 with the plain rectangle). GrabCut is seeded, so these numbers only move when the code
or OpenCV does; each floor sits 0.05-0.08 below its measurement to leave room for the latter.
"""

from __future__ import annotations

import statistics

import pytest

from bench.grabcut_iou import DATA, iou, load_example, load_pairs
from service.engines.grabcut import GrabCutEngine, segment_rectangle
from tests.locations import require_shared


@pytest.fixture(autouse=True, scope="module")
def _needs_shared() -> None:
    require_shared(DATA / "masks")


@pytest.fixture(scope="module")
def engine() -> GrabCutEngine:
    return GrabCutEngine()


# (photo, floor): portraits where the face prior applies (measured 0.96-0.98) and a small
# pedestrian found by the HOG body detector (measured 0.93).
PHOTOS = [("10", 0.9), ("12", 0.9), ("71", 0.9), ("82", 0.9), ("122", 0.85)]


@pytest.mark.parametrize(("stem", "floor"), PHOTOS)
def test_finds_the_person_in_a_real_photo(engine: GrabCutEngine, stem: str, floor: float) -> None:
    rgb, truth = load_example(DATA / "images" / f"{stem}.jpg", DATA / "masks" / f"{stem}.png")
    alpha = engine.predict_batch([rgb])[0]
    assert alpha.shape == truth.shape
    assert iou(alpha, truth) > floor


@pytest.mark.slow
def test_person_prior_beats_the_plain_rectangle_on_a_spread_of_photos(engine: GrabCutEngine) -> None:
    # Every 25th photo: portraits, groups, street scenes. Measured: person prior 0.78, rectangle 0.39.
    pairs = load_pairs()[::25]
    assert len(pairs) == 10
    ours, baseline = [], []
    for _, image_path, mask_path in pairs:
        rgb, truth = load_example(image_path, mask_path)
        ours.append(iou(engine.predict_batch([rgb])[0], truth))
        baseline.append(iou(segment_rectangle(rgb), truth))
    assert statistics.fmean(ours) > 0.7
    assert statistics.fmean(ours) > statistics.fmean(baseline) + 0.2
