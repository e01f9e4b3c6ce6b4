"""A minimal PNG writer for images above fpng's size cap: the "Up" row filter in numpy and one zlib
stream from ISA-L's deflate (`isal`, PSF-2.0, wrapping Intel's BSD-3 ISA-L; optional).

Why: above `png.FPNG_MAX_PIXELS` the service used Pillow (zlib level 1), ~0.75-0.9 s of CPU for a
12 MP RGBA cut-out. This writer took ~75 ms for the same image and wrote a smaller file (5.4 vs
6.3 MB; fpng 7.3 MB), and, unlike fpng, it does not hold the GIL while it works (numpy's subtraction
and isal's compression both release it), so the event loop keeps running during a big encode
(`python -m bench.png_large`, docs/benchmarks.md). "Up" (each byte minus the one above) is what
made the difference in size: no filter gave 12.6 MB, "Sub" 6.5 MB; per-row adaptive filtering (as
libpng does) would cost a pass per filter for little gain on photos.

Only the chunks PNG requires are written (IHDR, one IDAT, IEND): 8-bit gray, RGB or RGBA,
non-interlaced. The tests decode every output back to the exact pixels.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from concurrent.futures import Executor
from types import ModuleType

import numpy as np
import numpy.typing as npt

from service.imaging.shared_work import for_each_shared

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ISAL_LEVEL = 1  # ISA-L has levels 0-3; 1 and 2 gave the same size here, 0 a 25 % larger file
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (gray, RGB, RGBA)
_FILTER_UP = 2
# Row ranges deflated separately (see `encode`): at most this many, each at least this big, so a
# small image stays one stream.
_MAX_PIECES = 4
_MIN_PIECE_BYTES = 1 << 20
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 K window, "fastest" level flag, header checksum valid


def _import_isal() -> ModuleType | None:
    try:  # optional accelerator: without it the caller falls back to Pillow
        return importlib.import_module("isal.isal_zlib")
    except Exception:
        return None


_isal = _import_isal()

AVAILABLE = _isal is not None


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def encode(pixels: npt.NDArray[np.uint8], helper: Executor | None = None) -> bytes:
    """H x W (gray), H x W x 3 (RGB) or H x W x 4 (RGBA) uint8 -> PNG bytes. RuntimeError without isal.

    Big images are filtered and deflated in up to `_MAX_PIECES` row ranges, shared with an idle
    `helper` thread when there is one (`shared_work`), as pigz does: each range is its own raw
    deflate stream ended on a byte boundary (a sync flush), the last one finished, and the
    concatenation is one valid zlib stream with the whole image's Adler-32. A range cannot refer
    back into the one before it, which costs a few hundred bytes per range."""
    if _isal is None:
        raise RuntimeError("isal is not installed")
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or 0 in pixels.shape:
        raise ValueError(
            f"need a non-empty uint8 H x W or H x W x C image, got {pixels.shape} {pixels.dtype}"
        )
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in _COLOUR_TYPES:
        raise ValueError(f"{channels} channels: PNG here is gray, RGB or RGBA")
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    # Every row gets the filter byte 2 ("Up": the byte minus the one above, mod 256); the first row
    # has an implicit row of zeros above it, so it is stored as is.
    filtered = np.empty((height, 1 + width * channels), dtype=np.uint8)
    pieces = max(1, min(_MAX_PIECES, height, filtered.nbytes // _MIN_PIECE_BYTES))
    bounds = np.linspace(0, height, pieces + 1).astype(int)
    streams: list[bytes] = [b""] * pieces

    def deflate(index: int) -> None:
        start, end = int(bounds[index]), int(bounds[index + 1])
        filtered[start:end, 0] = _FILTER_UP
        if start == 0:
            filtered[0, 1:] = rows[0]
        below = max(start, 1)  # rows with a row above them in the image
        np.subtract(rows[below:end], rows[below - 1 : end - 1], out=filtered[below:end, 1:])
        part = filtered[start:end]
        if pieces == 1:
            streams[index] = _isal.compress(part, ISAL_LEVEL)
            return
        deflater = _isal.compressobj(ISAL_LEVEL, _isal.DEFLATED, -15)  # raw deflate: no header
        last = index == pieces - 1
        streams[index] = deflater.compress(part) + deflater.flush(
            _isal.Z_FINISH if last else _isal.Z_SYNC_FLUSH
        )

    for_each_shared(range(pieces), deflate, helper)
    if pieces == 1:
        idat = streams[0]
    else:
        checksum = struct.pack(">I", _isal.adler32(filtered) & 0xFFFFFFFF)
        idat = _ZLIB_HEADER + b"".join(streams) + checksum
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
