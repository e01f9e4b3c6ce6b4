"""Pillow's process-wide safety settings, applied once when this module is first imported.

Importing it (the decoder does) has exactly these effects, and nothing here runs per call:

1. `DecompressionBombWarning` becomes an exception (a `warnings` filter). Pillow emits it from
   `Image.open` for images over `Image.MAX_IMAGE_PIXELS`; as an error it stops the open. The filter is
   global and can be reset by other code (pytest does, per test), so the decoder does not depend on
   it: it also compares every image against `pillow_pixel_ceiling()` itself and refuses the same
   images either way.
2. pi-heif's HEIF plugin is registered (decode only; without thumbnails, depth or auxiliary images,
   which we never use and which would otherwise be read with every file), and all Pillow plugins are
   registered now (`Image.init()`), not lazily inside the first `Image.open`
   of each format, which would import modules from worker threads on first use.

Left at Pillow's defaults on purpose (the decoder relies on them): `Image.MAX_IMAGE_PIXELS`
(89,478,485) and `ImageFile.LOAD_TRUNCATED_IMAGES = False`, so truncated files raise instead of
decoding into grey. Code elsewhere must not change them.
"""

from __future__ import annotations

import warnings

import pi_heif
from PIL import Image

warnings.simplefilter("error", Image.DecompressionBombWarning)
pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
Image.init()


def pillow_pixel_ceiling() -> int | None:
    """The pixel count above which Pillow warns about a decompression bomb (None: check disabled).

    The service treats that warning as an error, so this is an upper bound on any per-call limit."""
    return Image.MAX_IMAGE_PIXELS
