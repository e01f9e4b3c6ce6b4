"""Any decoded Pillow image -> H x W x 3 uint8 RGB, the one pixel format the engines take.

Policies (each is a choice; the tests pin them):

- Existing alpha (RGBA, LA, PA, palette or colour-key transparency) is composited over **white**,
  not dropped. The colour under transparent pixels is whatever the producing tool left there: often
  black, sometimes the very background an earlier cut-out removed. Dropping alpha would feed that to
  the matting model; white is what the uploader saw in most viewers and documents, and a subject on
  a plain background is the easy case for the model. The output alpha is the model's, not the input's.
- 16-bit samples (PNG/TIFF "I;16*", and "I", which Pillow uses for 16/32-bit integer TIFFs) are
  scaled 0..65535 -> 0..255 with rounding. Pillow's own `convert` would clip them at 255 (a
  16-bit photo would come out almost white). Any colour-key transparency on them is ignored.
- CMYK, YCbCr, LAB, HSV, 1-bit, L, P, float ("F", clipped to 0..255 by Pillow) go through Pillow's
  `convert("RGB")`. Embedded ICC profiles are applied before this, by `service.imaging.srgb`; a
  CMYK image without a (usable) profile is converted naively.
- A mode Pillow cannot convert raises `UnsupportedPixelMode` (the decoder answers 415).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from service.imaging.blend import U8, composite_over

WHITE = (255, 255, 255)

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


class UnsupportedPixelMode(ValueError):
    """The image decoded, but into a pixel mode we do not convert."""


def image_to_rgb(im: Image.Image) -> U8:
    """Decode (if still lazy) and convert; returns a new writable C-contiguous array."""
    im.load()
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        return _sixteen_bit_to_rgb(im)
    try:
        if mode in _ALPHA_MODES or "transparency" in im.info:
            rgba = im.convert("RGBA")
            return np.array(composite_over(rgba.convert("RGB"), rgba.getchannel("A"), WHITE))
        rgb = im if mode == "RGB" else im.convert("RGB")
    except ValueError as exc:  # Pillow: "conversion from X to Y not supported"
        raise UnsupportedPixelMode(f"pixel mode {mode} is not supported") from exc
    return np.array(rgb, dtype=np.uint8)


def _sixteen_bit_to_rgb(im: Image.Image) -> U8:
    samples = np.asarray(im)
    grey = np.clip(samples, 0, 65535).astype(np.uint32)
    grey += 128
    grey //= 257  # round(x / 257): 65535 -> 255
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)
