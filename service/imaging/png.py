"""PNG writing: fpng for RGB/RGBA when installed, Pillow otherwise (and always for grayscale).

On a 1080p RGBA cut-out fpng is several times faster than Pillow at the same size, and Pillow's
compress_level=1 (the fallback) 2.5x faster than its default for +35 % size; masks stay on Pillow
(fpng writes only 24/32-bit, and an 8-bit matte is cheap anyway). Measurements: docs/benchmarks.md
("Imaging").

Why fpng, with Pillow kept as the fallback: its wrapper is small and young (one release, one
maintainer), it holds the GIL while encoding and it reports a failed encode as empty output instead
of raising. So: it is used only up to `FPNG_MAX_PIXELS` (the GIL is never held for more than a few
tens of ms, the event loop keeps running), any exception or output that does not start with the PNG
signature falls back to Pillow, and its absence (import error) is a supported configuration.
Above `FPNG_MAX_PIXELS` (and for any mode) `service.imaging.png_isal` writes the PNG: "Up" filter +
ISA-L deflate, GIL released; a 12 MP RGBA cut-out took ~75 ms of CPU (5.4 MB) where Pillow level 1
took ~750-870 ms (6.3 MB) (`python -m bench.png_large`). Without `isal` installed, Pillow as before.
All writers produce ordinary, lossless PNGs: the tests decode every output back exactly.
"""

from __future__ import annotations

import importlib
import io
import logging
import sys
from types import ModuleType

import numpy as np
from PIL import Image

from service.imaging import png_isal

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PILLOW_COMPRESS_LEVEL = 1  # see the measurements above
FPNG_MAX_PIXELS = 3840 * 2160  # ~30 ms of GIL at most; larger images go to png_isal (or Pillow)


def _import_fpng() -> ModuleType | None:
    cv2_before = sys.modules.get("cv2")
    try:  # optional accelerator: a missing or broken wheel must not stop the service
        return importlib.import_module("fpng")
    except Exception:
        return None
    finally:
        # fpng's __init__ puts a lazy `cv2` proxy into sys.modules (lazy_loader). Python 3.11's
        # LazyLoader is not thread-safe on first attribute access, and GrabCut first touches cv2 from
        # worker threads: drop the proxy so `import cv2` stays an ordinary import.
        if cv2_before is None and type(sys.modules.get("cv2")).__name__ == "_LazyModule":
            del sys.modules["cv2"]


_fpng = _import_fpng()

FAST_PNG_AVAILABLE = _fpng is not None


def encode_png(image: Image.Image, *, fast: bool = True) -> bytes:
    """An "L", "RGB" or "RGBA" image -> PNG bytes. fast=False forces Pillow (tests compare both)."""
    small_enough = image.width * image.height <= FPNG_MAX_PIXELS
    if fast and _fpng is not None and image.mode in ("RGB", "RGBA") and small_enough:
        try:
            content = _fpng.from_ndarray(np.asarray(image))
        except Exception:
            logger.warning("fpng failed; falling back to Pillow", exc_info=True)
        else:
            if isinstance(content, bytes) and content.startswith(PNG_SIGNATURE):
                return content
            logger.warning("fpng returned no PNG; falling back to Pillow")
    if fast and not small_enough and png_isal.AVAILABLE and image.mode in ("L", "RGB", "RGBA"):
        try:
            return png_isal.encode(np.asarray(image))
        except Exception:
            logger.warning("the isal PNG writer failed; falling back to Pillow", exc_info=True)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=PILLOW_COMPRESS_LEVEL)
    return buffer.getvalue()
