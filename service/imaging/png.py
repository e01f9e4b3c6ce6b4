"""PNG writing: fpng for RGB/RGBA when installed, Pillow otherwise (and always for grayscale).

Measured on a 1920x1080 RGBA cut-out (real photo, soft matte, colour cleared under alpha=0) on the
shared 2-core dev box; CPU time of the encoding thread, median of 15 (wall time swings 2-3x with
the other load on the box). `.venv/bin/python -m tests.imaging.bench_imaging`:

    Pillow compress_level=6        ~168 ms   0.52 MB
    Pillow compress_level=1         ~67 ms   0.70 MB   <- the Pillow fallback: 2.5x faster, +35 % size
    fpng 0.1.0 (PyPI)             ~5-20 ms   0.71 MB   <- used
    render(rgba, png), end to end: ~32 ms with fpng, ~77 ms with the Pillow fallback

fpng itself takes ~5 ms; the rest of its range is Pillow's `tobytes` copy feeding it (fresh memory,
page faults). For an 8-bit matte Pillow level 1 takes ~14 ms for 0.06 MB, so masks stay on Pillow
(fpng writes only 24/32-bit).

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
