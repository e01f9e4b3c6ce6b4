"""One frame and its matte -> the pixels the writer encodes, per requested output."""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt

from service.contract import Alpha, RGBImage
from service.imaging.blend import quantize_alpha
from service.imaging.options import RGB


class VideoOutput(StrEnum):
    RGBA = "rgba"  # WebM VP9 with an alpha channel
    MASK = "mask"  # the matte as a grayscale video
    COMPOSITE = "composite"  # the frames over bg_color


def render_frame(
    rgb: RGBImage, alpha: Alpha, output: VideoOutput, bg_color: RGB
) -> tuple[npt.NDArray[np.uint8], str]:
    """Returns (pixels, PyAV pixel format)."""
    matte = quantize_alpha(alpha)
    if output is VideoOutput.MASK:
        return matte, "gray"
    if output is VideoOutput.RGBA:
        return np.dstack((rgb, matte)), "rgba"
    # Integer blend with rounding: round((c*a + b*(255-a)) / 255).
    a = matte[..., None].astype(np.uint16)
    background = np.asarray(bg_color, dtype=np.uint16)
    blended = (rgb.astype(np.uint16) * a + background * (255 - a) + 127) // 255
    return blended.astype(np.uint8), "rgb24"
