"""Framing a cut-out the way remove.bg's API does: region of interest, crop to the subject, crop
margins, subject scale and position. Pure: arrays in, arrays out, no HTTP.

remove.bg's parameters (its API reference), and what they mean here:

- `roi` "x1 y1 x2 y2", each in px or % (x of the width, y of the height): only the subject inside this
  rectangle counts; alpha outside it becomes 0. Default: the whole image.
- `crop` (bool): the output canvas is the subject's bounding box (alpha > `ALPHA_THRESHOLD`).
- `crop_margin` (only with crop): 1, 2 or 4 lengths, CSS order (all | top/bottom left/right | top
  right bottom left); px, or % of the subject box (top/bottom of its height, left/right of its width).
  remove.bg caps each side at "50% of the subject dimensions or 500 pixels"; we read that as: a %
  margin is capped at 50%, a px margin at 500 px (clamped, not refused, as remove.bg does).
  Margins may reach past the image edge: that part of the canvas is transparent.
- `scale` "10%".."100%" or "original": the subject box is resized so that it fills that fraction of
  the canvas along its limiting side (aspect kept). Giving a scale implies `position=center`.
- `position` "original", "center", "x%" (both axes) or "x% y%": where the subject box sits in the
  canvas, as in CSS background-position: 0% = left/top edge, 100% = right/bottom edge, 50% centred.
  "original" keeps it where it was (after a scale: about its centre; after a crop: inside the margins).

The canvas is the cropped box plus margins when `crop`, else the input's size; scale and position
then act inside that canvas. Pixels are moved whole-image (not just the box), so faint alpha below
the threshold near the subject is kept where it lands on the canvas. Without scaling, pixels are
copied exactly; with scaling they are resampled premultiplied (no dark fringes): area averaging
when shrinking, bilinear when enlarging. Every array made here is bounded by the canvas, which is
at most the input plus 2 x 500 px per side.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from service.imaging.framing_options import ALPHA_THRESHOLD, Box, FramingOptions, RegionOfInterest

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Framed:
    rgb: U8
    """H x W x 3 uint8 (colour under alpha 0 is 0 where the canvas had no source pixel)."""
    alpha: U8
    """H x W uint8."""
    subject: Box | None
    """Where the subject box lies in the output; None: no subject (alpha all at/below threshold)."""


def subject_box(alpha: npt.NDArray[np.number], threshold: float = ALPHA_THRESHOLD) -> Box | None:
    """Bounding box of alpha > threshold, or None when there is none (uint8 alpha, or a float
    alpha with the threshold in its own scale)."""
    mask = alpha > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def apply_roi(alpha: U8, roi: RegionOfInterest | None) -> U8:
    """Alpha with everything outside the region set to 0 (a new array when changed)."""
    if roi is None:
        return alpha
    box = roi.to_box(alpha.shape[1], alpha.shape[0])
    kept = np.zeros_like(alpha)
    kept[box.top : box.bottom, box.left : box.right] = alpha[box.top : box.bottom, box.left : box.right]
    return kept


def frame_subject(rgb: U8, alpha: U8, options: FramingOptions) -> Framed:
    """The cut-out framed as `options` say. With no subject (nothing above the threshold inside the
    region of interest) there is nothing to crop to, scale or place: the image comes back at its
    size, with the region of interest applied."""
    if rgb.shape[:2] != alpha.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb {rgb.shape} and alpha {alpha.shape} do not match")
    alpha = apply_roi(alpha, options.roi)
    box = subject_box(alpha)
    if box is None or options.changes_nothing:
        return Framed(rgb, alpha, box)

    height, width = alpha.shape
    if options.crop:
        top, right, bottom, left = options.crop_margin.resolve(box)
        canvas = (box.width + left + right, box.height + top + bottom)
        home = (left, top)  # where the box sits with position=original
    else:
        canvas = (width, height)
        home = (box.left, box.top)

    scale = 1.0
    size = (box.width, box.height)
    if options.scale is not None:
        scale = options.scale * min(canvas[0] / box.width, canvas[1] / box.height)
        size = (max(1, round(box.width * scale)), max(1, round(box.height * scale)))

    position = options.effective_position
    if position == "original":  # scaled about the box's centre
        origin = (round(home[0] + (box.width - size[0]) / 2), round(home[1] + (box.height - size[1]) / 2))
    else:
        origin = (round(position[0] * (canvas[0] - size[0])), round(position[1] * (canvas[1] - size[1])))

    if scale == 1.0:
        out_rgb, out_alpha = _translate(rgb, alpha, canvas, origin[0] - box.left, origin[1] - box.top)
    else:
        out_rgb, out_alpha = _scale_onto(rgb, alpha, canvas, scale, box, origin)
    placed = Box(origin[0], origin[1], origin[0] + size[0], origin[1] + size[1])
    return Framed(out_rgb, out_alpha, placed)


def _translate(rgb: U8, alpha: U8, canvas: tuple[int, int], dx: int, dy: int) -> tuple[U8, U8]:
    """The image moved by (dx, dy) onto a transparent canvas, pixels copied exactly."""
    width, height = canvas
    out_rgb = np.zeros((height, width, 3), np.uint8)
    out_alpha = np.zeros((height, width), np.uint8)
    src_h, src_w = alpha.shape
    x0, y0 = max(0, dx), max(0, dy)
    x1, y1 = min(width, src_w + dx), min(height, src_h + dy)
    if x0 < x1 and y0 < y1:
        out_rgb[y0:y1, x0:x1] = rgb[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
        out_alpha[y0:y1, x0:x1] = alpha[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return out_rgb, out_alpha


def _scale_onto(
    rgb: U8, alpha: U8, canvas: tuple[int, int], scale: float, box: Box, origin: tuple[int, int]
) -> tuple[U8, U8]:
    """The image scaled by `scale` so that the box's corner lands on `origin`, resampled
    premultiplied so transparent pixels' colour does not bleed into the edge."""
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    premultiplied: F32 = np.dstack([rgb.astype(np.float32) * a[..., None], a]).astype(np.float32)
    placed: F32
    if scale < 1.0:
        # Shrink first with area averaging (no aliasing), then place with whole pixels.
        size = (max(1, round(alpha.shape[1] * scale)), max(1, round(alpha.shape[0] * scale)))
        small = np.asarray(cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA), np.float32)
        dx = origin[0] - round(box.left * scale)
        dy = origin[1] - round(box.top * scale)
        placed = _translate_float(small, canvas, dx, dy)
    else:
        # Enlarge straight onto the canvas: never allocates more than the canvas.
        matrix = np.array(
            [[scale, 0.0, origin[0] - box.left * scale], [0.0, scale, origin[1] - box.top * scale]],
            np.float32,
        )
        warped = cv2.warpAffine(
            premultiplied,
            matrix,
            canvas,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0.0, 0.0, 0.0, 0.0),
        )
        placed = np.asarray(warped, np.float32)
    out_a = np.clip(placed[..., 3], 0.0, 1.0)
    safe = np.where(out_a > 0, out_a, 1.0)
    out_rgb = np.clip(placed[..., :3] / safe[..., None] + 0.5, 0, 255).astype(np.uint8)
    out_rgb[out_a <= 0] = 0
    out_alpha = np.clip(out_a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out_rgb, out_alpha


def _translate_float(image: F32, canvas: tuple[int, int], dx: int, dy: int) -> F32:
    width, height = canvas
    out = np.zeros((height, width, image.shape[2]), np.float32)
    src_h, src_w = image.shape[:2]
    x0, y0 = max(0, dx), max(0, dy)
    x1, y1 = min(width, src_w + dx), min(height, src_h + dy)
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = image[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return out
