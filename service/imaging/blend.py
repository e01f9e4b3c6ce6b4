"""Alpha arithmetic shared by decoding (flattening an uploaded alpha) and rendering.

Compositing is Pillow's `paste` with a mask: C code that rounds exactly (round(c*a + b*(1-a)) on
8-bit values) and, at 1080p on this box, is ~6x faster than the same maths in numpy, whose uint16
passes over interleaved channels dominate otherwise. So a composite equals what a viewer shows for
the RGBA output with the same 8-bit alpha: no float drift, no truncation bias.

A cut-out is built in OpenCV on the arrays (masked copy, RGB -> RGBA, alpha written in): at 12 MP
that took 26 ms where Pillow's new/paste/putalpha and the array copy back took 143 ms.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

U8 = npt.NDArray[np.uint8]
RGB = tuple[int, int, int]


def quantize_alpha(alpha: npt.NDArray[np.floating] | U8) -> U8:
    """[0, 1] float alpha -> uint8, rounded to nearest (truncation would bias every edge down by
    half a step). Out-of-range values are clipped and NaN becomes 0, so a misbehaving engine can never
    wrap around (1.0001 -> 0): fmax/fmin map NaN to a bound (clip would keep it), OpenCV's
    conversion scales and rounds in one pass (the numpy scale/round/cast chain took three; the whole
    took 2x the time at 12 MP). Huge values must be clipped first: they overflow its rounding.
    A uint8 alpha is already quantised and comes back as it is (the pipeline quantises once)."""
    if alpha.dtype == np.uint8:
        return np.asarray(alpha, dtype=np.uint8)
    scaled = np.fmax(alpha, 0.0, dtype=np.float32)
    np.fmin(scaled, 1.0, out=scaled)
    # (OpenCV may drop a one-pixel array's axes: reshape.)
    return np.asarray(cv2.convertScaleAbs(scaled, alpha=255.0), dtype=np.uint8).reshape(scaled.shape)


def composite_over(colour: Image.Image, matte: Image.Image, background: RGB) -> Image.Image:
    """RGB `colour` over a solid background through an "L" matte -> RGB image."""
    out = Image.new("RGB", colour.size, background)
    out.paste(colour, (0, 0), matte)
    return out


def cut_out(colour: U8, alpha8: U8) -> U8:
    """H x W x 3 colour + H x W uint8 alpha -> H x W x 4 RGBA, colour cleared to 0 where alpha is 0."""
    visible = cv2.bitwise_and(colour, colour, mask=alpha8)  # the mask copies where alpha8 != 0
    out = np.asarray(cv2.cvtColor(visible, cv2.COLOR_RGB2RGBA), dtype=np.uint8)
    out[..., 3] = alpha8
    return out
