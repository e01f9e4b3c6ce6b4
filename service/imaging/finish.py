"""The last CPU step of a removal: frame the cut-out (crop to subject, margins, scale, position,
region of interest), fit it into the `size` budget, then encode.

It runs after the alpha and foreground-colour step, so framing moves the decontaminated colour with
its alpha, and a composite is laid on `bg_color` after framing (crop margins are background colour,
not black). With no framing and no budget to meet, the arrays go to the encoder untouched.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from service.contract import Alpha, RGBImage
from service.imaging.blend import quantize_alpha
from service.imaging.crop import frame_subject, subject_box
from service.imaging.encode import Rendered, render
from service.imaging.framing_options import ALPHA_THRESHOLD, Box
from service.imaging.options import OutputOptions
from service.imaging.size_budget import fitted_size

U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Finished:
    rendered: Rendered
    width: int
    height: int
    subject: Box | None
    """The subject's bounding box in the result (remove.bg's foreground_top/left/width/height)."""


def finish(
    colour: RGBImage, alpha: Alpha | U8, options: OutputOptions, helper: Executor | None = None
) -> Finished:
    """`colour` is the image to show (the foreground estimate when there is one); `alpha` is float
    0..1 or already the output's uint8 alpha (`quantize_alpha`, which the pipeline applies once)."""
    height, width = alpha.shape
    framing = options.framing
    unchanged = framing.changes_nothing and fitted_size(width, height, options.max_output_pixels) == (
        width,
        height,
    )
    if unchanged:
        # For a float alpha: the value that quantises to just above the uint8 threshold.
        threshold = ALPHA_THRESHOLD if alpha.dtype == np.uint8 else (ALPHA_THRESHOLD + 0.5) / 255.0
        subject = subject_box(alpha, threshold=threshold)
        return Finished(render(colour, alpha, options, helper=helper), width, height, subject)
    framed = frame_subject(colour, quantize_alpha(alpha), framing)
    rgb, alpha8, subject = downscale(framed.rgb, framed.alpha, framed.subject, options.max_output_pixels)
    rendered = render(rgb, alpha8, options, helper=helper)
    return Finished(rendered, rgb.shape[1], rgb.shape[0], subject)


def downscale(rgb: U8, alpha: U8, subject: Box | None, budget: int | None) -> tuple[U8, U8, Box | None]:
    """Colour, alpha and the subject box shrunk to fit `budget` (area averaging: no aliasing)."""
    height, width = alpha.shape
    w, h = fitted_size(width, height, budget)
    if (w, h) == (width, height):
        return rgb, alpha, subject
    small_rgb = np.asarray(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    small_alpha = np.asarray(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    if subject is not None:
        fx, fy = w / width, h / height
        subject = Box(
            math.floor(subject.left * fx),
            math.floor(subject.top * fy),
            min(w, math.ceil(subject.right * fx)),
            min(h, math.ceil(subject.bottom * fy)),
        )
    return small_rgb, small_alpha, subject
