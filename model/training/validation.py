"""Scoring alpha mattes against the remove.bg masks of the validation split.

IoU@0.5 and mean absolute error are both taken against the binary masks: they are the only labels
not made by the teacher, so the teacher and the student are judged by the same independent
reference (a soft label built from the teacher would favour the teacher).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from model.training.photos import SCENE, Photo, read_hair_mask, read_photo_mask, read_rgb

AlphaFn = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]]


@dataclass
class ValPhoto:
    key: str
    image: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_] | None  # the person (None for hair photos, which only mark hair)
    hair: npt.NDArray[np.bool_] | None = None  # hair pixels, where the photo's set marks them
    category: str = SCENE

    def person(self) -> npt.NDArray[np.bool_]:
        if self.mask is None:
            raise ValueError(f"validation photo {self.key} has no person mask")
        return self.mask


# Decimals the quality tables print IoU and MAE (and the failure shares) at. The export's guards
# compare at this precision: a difference below it is float noise between evaluations (the same
# 40 photos), and a candidate refused or shipped on it would be chosen by a digit no table shows.
TABLE_DECIMALS = 4


@dataclass(frozen=True)
class Scores:
    iou: float  # mean over photos of IoU(alpha >= 0.5, mask)
    mae: float  # mean over photos of mean |alpha - mask|

    def as_printed(self) -> Scores:
        """The scores at the tables' precision (`TABLE_DECIMALS`)."""
        return Scores(round(self.iou, TABLE_DECIMALS), round(self.mae, TABLE_DECIMALS))

    def better_than(self, other: Scores | None) -> bool:
        return other is None or (self.iou, -self.mae) > (other.iou, -other.mae)

    def improves_on(self, other: Scores) -> bool:
        """Better on one measure and worse on neither: what replacing shipped weights needs. (The
        IoU-first order of `better_than` picks checkpoints within a run; across files it would ship
        a higher IoU bought with a softer, blob-prone matte, as run c9 showed: docs/training-campaign.md.)"""
        return (
            self.iou >= other.iou and self.mae <= other.mae and (self.iou, self.mae) != (other.iou, other.mae)
        )


def _shrink_mask(mask: npt.NDArray[np.bool_], size: tuple[int, int]) -> npt.NDArray[np.bool_]:
    return np.asarray(cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5)


def load_val_photos(photos: Sequence[Photo], short_side: int | None = None) -> list[ValPhoto]:
    """The photos with their masks, optionally shrunk to `short_side` (training-time validation
    is cheaper that way; the final `eval` stage scores at full size)."""
    out = []
    for photo in photos:
        if not photo.has_mask:
            raise ValueError(f"validation photo {photo.key} has no mask")
        image = read_rgb(photo.image_path)
        height, width = image.shape[:2]
        mask = read_photo_mask(photo, height, width)
        hair = read_hair_mask(photo, height, width)
        scale = 1.0 if short_side is None else min(1.0, short_side / min(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
            mask = None if mask is None else _shrink_mask(mask, size)
            hair = None if hair is None else _shrink_mask(hair, size)
        out.append(ValPhoto(photo.key, image, mask, hair, photo.category))
    return out


def photo_scores(alpha: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
    if alpha.shape != mask.shape:
        raise ValueError(f"alpha {alpha.shape} vs mask {mask.shape}")
    pred = alpha >= 0.5
    union = np.count_nonzero(pred | mask)
    iou = 1.0 if union == 0 else np.count_nonzero(pred & mask) / union
    return float(iou), float(np.abs(alpha - mask.astype(np.float32)).mean())


def score(alpha_fn: AlphaFn, photos: Sequence[ValPhoto]) -> Scores:
    per_photo = [photo_scores(alpha_fn(p.image), p.person()) for p in photos]
    return Scores(float(np.mean([s[0] for s in per_photo])), float(np.mean([s[1] for s in per_photo])))
