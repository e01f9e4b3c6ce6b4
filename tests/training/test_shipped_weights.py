"""Regression test for the shipped weights: on every held-out photo, per category, as served.

The photos are the whole committed validation split (40 scene photos with remove.bg masks, 50 close
portraits with face-parsing masks, 50 hair photos with hair masks; never trained on), scored the way
the export guard scores them (`failure_report`, full size, through the serving engine and its
upsampling). Floors: the numbers the shipped file measures there, less a margin for float rounding
across runtimes and machines (the mean over 40-50 photos moves by ~1e-4); and MODNet must beat
GrabCut on the scene photos (a default model worse than the fallback must not ship). Raise them when
better weights ship.

History: until 2026-12-02 this test scored the first six keys of the split, chosen when the split
held scene photos only; once the portrait and hair keys were added those six were close portraits
only (sorted keys), and six photos were too few to tell weights apart. Measured there: run c11 IoU
0.9425 / MAE 0.0462, the c14 soup shipped after it 0.9366 / 0.0492, while on all 50 held-out
portraits c14 is 0.9458 / 0.0427 against c11's 0.9456 / 0.0433 (paired per-photo difference +0.0003,
standard error 0.0017). docs/training-campaign.md has both files on every photo.
Skipped until model/weights/modnet_people.safetensors exists.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.training.failure_report import by_category, measure_photos, on_image, rows_of
from model.training.paths import PEOPLE_DIR, SHIPPED_WEIGHTS, VAL_SPLIT_FILE
from model.training.photos import list_photos
from model.training.split import read_val_split
from model.training.validation import load_val_photos, photo_scores
from tests.locations import require_shared

# Measured for two parts of the file before, one of c30 SOC step 160 (the lost-foreground loss term) and
# one of c28 SOC step 120 (2026-12-08, session 14): scene 0.8966 / 0.0322, portrait 0.9491 / 0.0401,
# hair kept 99.16 %. Before it, the five-part mean of the file before that, c27 SOC step 80, c28 SOC
# steps 160 and 40 and c26 SOC step 160: 0.8960 / 0.0323, 0.9491 / 0.0401, 99.02 % (it fails these
# floors). Before that, two parts of the file before that and one of c26 SOC step 160: 0.8951 / 0.0323,
# 0.9489 / 0.0401, 98.68 %. Before that, the mean of c21 SOC step 80 and c24
# SOC step 120: 0.8918 / 0.0326, 0.9489 / 0.0401, 98.66 %; c21 SOC step 80: 0.8906 / 0.0327, 0.9485 /
# 0.0403, 98.26 %; the mean of c18 SOC step 80 and c20 SOC
# step 120: 0.8905 / 0.0333, 0.9483 / 0.0406, 98.20 %; SOC step 120 on the c14 soup: 0.8903 / 0.0338,
# 0.9466 / 0.0424, 97.97 %; the c14 soup: 0.8850 / 0.0340, 0.9458 / 0.0427, 97.87 %; run c11: 0.8834 /
# 0.0349, 0.9456 / 0.0433, 95.92 %.
FLOORS = {
    "scene": {"iou": 0.8963, "mae": 0.0323},
    "portrait": {"iou": 0.9489, "mae": 0.0402},
    "hair": {"hair": 0.991},
}

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not SHIPPED_WEIGHTS.is_file(), reason="no shipped weights yet")
def test_shipped_weights_hold_their_scores_on_every_held_out_photo() -> None:
    require_shared(PEOPLE_DIR)
    import torch

    from model.serving import create_engine
    from service.engines.grabcut import GrabCutEngine
    from service.imaging.matte_scale import matte_at_full_size

    keys = read_val_split(VAL_SPLIT_FILE)
    photos = load_val_photos([p for p in list_photos(PEOPLE_DIR) if p.key in keys])
    assert {p.category for p in photos} == set(FLOORS) and len(photos) == len(keys)
    engine = create_engine(weights_path=SHIPPED_WEIGHTS, device="cpu")  # fp32, as served by default
    assert engine is not None and engine.name == "modnet"
    torch.manual_seed(0)

    def served(image: np.ndarray) -> np.ndarray:
        alpha = matte_at_full_size(engine, image)  # the served way, upsampling included
        assert alpha.dtype == np.float32 and alpha.min() >= 0.0 and alpha.max() <= 1.0
        assert alpha.std() > 0.05  # not a constant
        return alpha

    rows = {
        row.category: row for row in by_category(rows_of("MODNet", measure_photos(on_image(served), photos)))
    }
    measured = {
        category: {name: getattr(rows[category], name) for name in floors}
        for category, floors in FLOORS.items()
    }
    for category, floors in FLOORS.items():
        for name, floor in floors.items():
            value = measured[category][name]
            assert (value <= floor) if name == "mae" else (value >= floor), (category, name, measured)

    scenes = [p for p in photos if p.category == "scene"]
    grabcut = GrabCutEngine().predict_batch([p.image for p in scenes])
    grabcut_iou = float(
        np.mean([photo_scores(a, p.person())[0] for a, p in zip(grabcut, scenes, strict=True)])
    )
    assert measured["scene"]["iou"] > grabcut_iou, (measured["scene"], grabcut_iou)
