"""Regression test for the shipped weights: sane mattes on real held-out photos.

Floors: on the same photos, the shipped MODNet must score at least GrabCut's mean IoU (a default
model worse than the fallback must not ship; GrabCut scores 0.74 on the whole validation split),
and no worse than the weights shipped now score there (IoU 0.9425, MAE 0.0462 for run c11, served
with small foreground islands dropped, 2026-12-02; run c9 + SOC before them: 0.9417 / 0.0470 the
same way, 0.9412 / 0.0475 without dropping islands; the weights before those: 0.9340 / 0.0528),
less a margin for float rounding across runtimes and machines. Raise them when better weights ship.
Skipped until model/weights/modnet_people.safetensors exists.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.training.paths import PEOPLE_DIR, SHIPPED_WEIGHTS, VAL_SPLIT_FILE
from model.training.photos import list_photos
from model.training.split import read_val_split
from model.training.validation import load_val_photos, photo_scores
from tests.locations import require_shared

IOU_FLOOR = 0.938  # measured 0.9425 on these photos
MAE_CEILING = 0.049  # measured 0.0462
PHOTOS = 6  # the first keys of the committed validation split: never trained on, not hand-picked

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not SHIPPED_WEIGHTS.is_file(), reason="no shipped weights yet")
def test_shipped_weights_beat_grabcut_on_held_out_photos() -> None:
    require_shared(PEOPLE_DIR)
    import torch

    from model.serving import create_engine
    from service.engines.grabcut import GrabCutEngine

    keys = sorted(read_val_split(VAL_SPLIT_FILE))[:PHOTOS]
    photos = load_val_photos([p for p in list_photos(PEOPLE_DIR) if p.key in keys])
    engine = create_engine(weights_path=SHIPPED_WEIGHTS, device="cpu")  # fp32, as served by default
    assert engine is not None and engine.name == "modnet"
    torch.manual_seed(0)
    from service.imaging.matte_scale import matte_at_full_size

    alphas = [matte_at_full_size(engine, p.image) for p in photos]  # the served way, upsampling included
    for alpha, photo in zip(alphas, photos, strict=True):
        assert alpha.shape == photo.person().shape and alpha.dtype == np.float32
        assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and alpha.std() > 0.05  # not a constant
    scores = [photo_scores(a, p.person()) for a, p in zip(alphas, photos, strict=True)]
    modnet_iou = float(np.mean([iou for iou, _ in scores]))
    modnet_mae = float(np.mean([mae for _, mae in scores]))
    grabcut = GrabCutEngine().predict_batch([p.image for p in photos])
    grabcut_iou = float(
        np.mean([photo_scores(a, p.person())[0] for a, p in zip(grabcut, photos, strict=True)])
    )
    assert modnet_iou >= max(IOU_FLOOR, grabcut_iou), (modnet_iou, grabcut_iou)
    assert modnet_mae <= MAE_CEILING, modnet_mae
