"""Combine a coarse binary mask with the teacher's soft alpha into one training label.

remove.bg masks get the overall shape right (whole body, no holes, no background blobs) but are
binary and sometimes stored at low resolution, so their edges are jagged. The teacher is soft and
detailed at edges (hair) but can miss limbs or pick up background people. So: trust the mask far
from its boundary, the teacher within a band around it, and blend linearly in between so the label
has no seam where the two sources meet. Inside the mask the teacher's band is narrower: it may soften
the mask's edge, but a limb the mask has is never erased by a teacher that missed it. Photos with a
hair-only mask (Figaro1k) keep the teacher's label, raised to the mask wherever it marks hair.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

# Band half-width as a fraction of the image's short side (with a floor in pixels). Chosen by
# inspecting labels of the masked photos: 3 % covers hair and the jaggies of upscaled masks without
# letting the teacher's background mistakes (extra people, objects) through.
BAND_FRACTION = 0.03
MIN_BAND_PX = 3
# Inside the mask, the teacher is trusted over the band's first fifth only, ramped to the mask across
# it: the jaggies of an upscaled mask, not a whole limb.
NARROW_FRACTION_OF_BAND = 0.2
MIN_NARROW_PX = 2.0


def band_width(height: int, width: int) -> int:
    return max(MIN_BAND_PX, round(BAND_FRACTION * min(height, width)))


def distance_to_boundary(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """Euclidean distance (px) from every pixel to the other side of the mask's boundary."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return np.where(mask, inside, outside).astype(np.float32)


def combine_mask_and_teacher(
    mask: npt.NDArray[np.bool_], teacher_alpha: npt.NDArray[np.float32], band_px: int | None = None
) -> npt.NDArray[np.float32]:
    """Label = teacher within `band_px` of the mask boundary, mask beyond `2 * band_px`, linear in
    between; inside the mask, at least the mask ramped in over a fifth of that band. Both inputs
    H x W; returns float32 in 0..1."""
    if mask.shape != teacher_alpha.shape:
        raise ValueError(f"mask {mask.shape} and teacher {teacher_alpha.shape} differ in size")
    band = band_px if band_px is not None else band_width(*mask.shape)
    distance = distance_to_boundary(mask)
    trust_mask = np.clip(distance / band - 1.0, 0.0, 1.0)
    label = trust_mask * mask.astype(np.float32) + (1.0 - trust_mask) * teacher_alpha
    # Inside the mask the teacher may soften the edge but not erase the person: the label is at
    # least the mask ramped in over a narrow margin from its edge. Within the full band a thin limb
    # (an arm narrower than two bands, a small pedestrian's legs) was the teacher's alone, and the
    # teacher drops limbs: the band-only labels left 6.4 % of the training scene masks' area below
    # 0.5, this rule 1.6 % (a floor only beyond one margin: 4.2 %), and the network learnt to drop
    # them too (docs/training-campaign.md, session 9).
    return np.clip(np.maximum(label, _inside_floor(mask, distance, band)), 0.0, 1.0).astype(np.float32)


def _inside_floor(
    mask: npt.NDArray[np.bool_], distance: npt.NDArray[np.float32], band: int
) -> npt.NDArray[np.float32]:
    """The mask ramped in from its edge over a fifth of the band (0 outside the mask)."""
    narrow = max(MIN_NARROW_PX, band * NARROW_FRACTION_OF_BAND)
    return np.where(mask, np.clip(distance / narrow, 0.0, 1.0), 0.0).astype(np.float32)


def keep_masked_hair(
    hair: npt.NDArray[np.bool_], teacher_alpha: npt.NDArray[np.float32], band_px: int | None = None
) -> npt.NDArray[np.float32]:
    """Label for a photo with a hair-only mask: the teacher's, raised inside the hair mask to the
    mask ramped in from its edge. The mask says nothing about the face and body (the teacher keeps
    them) but where it marks hair, hair is foreground; the teacher's labels left 2.0 % of the
    training hair masks' area below 0.5 and the network kept as little hair as its labels."""
    if hair.shape != teacher_alpha.shape:
        raise ValueError(f"hair mask {hair.shape} and teacher {teacher_alpha.shape} differ in size")
    band = band_px if band_px is not None else band_width(*hair.shape)
    floor = _inside_floor(hair, distance_to_boundary(hair), band)
    return np.clip(np.maximum(teacher_alpha, floor), 0.0, 1.0).astype(np.float32)


# A remove.bg mask sometimes keeps a non-person object (a star-shaped sign, a tree trunk with a
# blanket). Photos where the mask claims more than this share of its area, far from the boundary,
# that the teacher calls clear background (< 0.1) are left out of training: 2 of 250 photos.
MAX_MASK_ONLY_FRACTION = 0.15


def mask_only_fraction(
    mask: npt.NDArray[np.bool_], teacher_alpha: npt.NDArray[np.float32], band_px: int | None = None
) -> float:
    """Share of the mask's area, beyond the blending band, that the teacher calls background."""
    band = band_px if band_px is not None else band_width(*mask.shape)
    far = distance_to_boundary(mask) >= 2 * band
    claimed = np.count_nonzero(far & mask & (teacher_alpha < 0.1))
    return claimed / max(1, int(np.count_nonzero(mask)))
