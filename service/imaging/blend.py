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

from service.imaging.kernels import quantize_flat

U8 = npt.NDArray[np.uint8]
RGB = tuple[int, int, int]


def quantize_alpha(alpha: npt.NDArray[np.floating] | U8) -> U8:
    """[0, 1] float alpha -> uint8, rounded to nearest (truncation would bias every edge down by
    half a step). Out-of-range values are clipped and NaN becomes 0, so a misbehaving engine can never
    wrap around (1.0001 -> 0). One compiled pass (`kernels.quantize_flat`). A uint8 alpha is already
    quantised and comes back as it is (the pipeline quantises once)."""
    if alpha.dtype == np.uint8:
        return np.asarray(alpha, dtype=np.uint8)
    values = np.ascontiguousarray(alpha, dtype=np.float32)
    out = np.empty(values.shape, np.uint8)
    quantize_flat(values.reshape(-1), out.reshape(-1))
    return out


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
