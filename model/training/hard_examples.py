"""Hard-example mining: draw the training photos the model gets most wrong more often.

At every validation the run scores each training photo with its current EMA weights, the way the
service sees it (the whole photo at the run's `train_size`), against the photo's own training
label, and the batch plan then draws each photo in proportion to its category's share times a
boost that grows with that error. The boost only reorders the draws *within* a category, so mining
never shifts the balance `category_weights` sets between scenes and close-ups (which the campaign
found to matter more than anything else, see docs/training-campaign.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from torch import nn

from model.training.augment import Source
from model.training.inference import predict_alpha
from model.training.validation import photo_scores

# A photo is drawn at most this many times as often as the easiest photo of its category: a few
# photos with broken labels (the error cannot fall) must not take over the batches.
MAX_BOOST = 4.0


def photo_error(alpha: npt.NDArray[np.float32], label_u8: npt.NDArray[np.uint8]) -> float:
    """(1 - IoU@0.5) + mean |alpha - label|: the validation's two measures, so that both a lost
    arm (IoU) and a soft, hazy matte (MAE) make a photo hard."""
    label = label_u8.astype(np.float32) / 255.0
    iou, _ = photo_scores(alpha, label >= 0.5)  # the MAE is against the soft label, not the mask
    return float(1.0 - iou + np.abs(alpha - label).mean())


def photo_errors(
    net: nn.Module, sources: Sequence[Source], size: int, wanted: Sequence[bool]
) -> npt.NDArray[np.float64]:
    """Error per training photo (NaN where `wanted` is False: categories that are never drawn cost
    no forward passes)."""
    errors = np.full(len(sources), np.nan)
    for index, (source, want) in enumerate(zip(sources, wanted, strict=True)):
        if want:
            errors[index] = photo_error(predict_alpha(net, source.image, size), source.alpha)
    return errors


def boosts(
    errors: npt.NDArray[np.float64], categories: Sequence[str], strength: float
) -> npt.NDArray[np.float64]:
    """Per-photo draw multipliers: 1 + strength * error / (the category's mean error), at most
    MAX_BOOST times the category's smallest multiplier. Unscored photos (NaN) keep 1."""
    out = np.ones(len(errors))
    for category in set(categories):
        members = np.array([c == category for c in categories]) & ~np.isnan(errors)
        if not members.any():
            continue
        mean = float(errors[members].mean())
        raw = 1.0 + strength * errors[members] / mean if mean > 0 else np.ones(int(members.sum()))
        out[members] = np.minimum(raw, MAX_BOOST * raw.min())
    return out
