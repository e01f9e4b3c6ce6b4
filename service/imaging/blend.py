"""Alpha arithmetic shared by decoding (flattening an uploaded alpha) and rendering.

Compositing is Pillow's `paste` with a mask: C code that rounds exactly (round(c*a + b*(1-a)) on
8-bit values) and, at 1080p on this box, is ~6x faster than the same maths in numpy, whose uint16
passes over interleaved channels dominate otherwise. So a composite equals what a viewer shows for
the RGBA output with the same 8-bit alpha: no float drift, no truncation bias.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

U8 = npt.NDArray[np.uint8]
RGB = tuple[int, int, int]

# Maps alpha 0 -> 0 and any other alpha -> 255: "is this pixel visible at all?"
_VISIBLE_LUT = [0] + [255] * 255


def quantize_alpha(alpha: npt.NDArray[np.floating]) -> U8:
    """[0, 1] float alpha -> uint8, rounded to nearest (truncation would bias every edge down by
    half a step). Out-of-range values are clipped and NaN becomes 0, so a misbehaving engine can never
    wrap around (1.0001 -> 0). fmax/fmin rather than clip because they also map NaN to the bound."""
    scaled = np.fmax(alpha, 0.0, dtype=np.float32)
    np.fmin(scaled, 1.0, out=scaled)
    scaled *= 255.0
    scaled += 0.5  # then truncating = rounding half up (all values are >= 0)
    return scaled.astype(np.uint8)


def composite_over(colour: Image.Image, matte: Image.Image, background: RGB) -> Image.Image:
    """RGB `colour` over a solid background through an "L" matte -> RGB image."""
    out = Image.new("RGB", colour.size, background)
    out.paste(colour, (0, 0), matte)
    return out


def cut_out(colour: Image.Image, matte: Image.Image) -> Image.Image:
    """RGB `colour` + "L" matte -> RGBA, with colour cleared to black where the matte is 0."""
    out = Image.new("RGB", colour.size, (0, 0, 0))
    out.paste(colour, (0, 0), matte.point(_VISIBLE_LUT))
    out.putalpha(matte)
    return out
