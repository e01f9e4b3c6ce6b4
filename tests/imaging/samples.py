"""Builders for test images: Pillow-encoded samples and hand-made headers for hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.locations import PEOPLE

UNLABELED = PEOPLE / "unlabeled"


def gradient(width: int, height: int) -> npt.NDArray[np.uint8]:
    """A deterministic RGB image with distinct rows and columns (so flips/rotations show)."""
    yy, xx = np.mgrid[0:height, 0:width]
    r = (xx * 255 // max(width - 1, 1)).astype(np.uint8)
    g = (yy * 255 // max(height - 1, 1)).astype(np.uint8)
    b = ((xx + 3 * yy) % 256).astype(np.uint8)
    return np.dstack([r, g, b])


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_from_rows(width: int, height: int, row: bytes, *, colour_type: int = 0) -> bytes:
    """A valid 8-bit PNG whose every (filter byte + row) is `row`, compressed as a stream so a huge,
    highly compressible image is built without ever holding its pixels."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"IDAT", b"".join(parts)),
            _png_chunk(b"IEND", b""),
        ]
    )


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (valid CRCs) over a tiny IDAT: a lying header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_with_ztxt_bomb(megabytes: int = 16) -> bytes:
    """A 4x4 PNG carrying a compressed text chunk that inflates to `megabytes` MB."""
    good = encode(Image.new("RGB", (4, 4)), "PNG")
    text = zlib.compress(b"\x00" * (megabytes << 20), 9)
    chunk = _png_chunk(b"zTXt", b"comment\x00\x00" + text)
    return good[:33] + chunk + good[33:]  # right after IHDR (8 + 25 bytes)


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose logical screen and first frame both claim width x height."""
    good = encode(Image.new("P", (2, 2)), "GIF")
    data = bytearray(good)
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    descriptor = data.index(b"\x2c")  # image separator
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small baseline JPEG with its SOF0 size fields rewritten."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A WebP with a VP8X header whose canvas claims width x height (at most 2**24 each)."""
    exif = Image.Exif()
    exif[0x0112] = 1
    data = bytearray(encode(Image.new("RGB", (4, 4)), "WEBP", exif=exif))  # EXIF forces VP8X
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (4, 4)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """A minimal little-endian grayscale TIFF whose IFD claims width x height over 16 bytes of strip."""
    entries = [  # tag, type (3 SHORT, 4 LONG), count, value
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),  # bits per sample
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # black is zero
        (273, 4, 1, 0),  # strip offset, patched below
        (277, 3, 1, 1),  # samples per pixel
        (278, 4, 1, height),  # rows per strip
        (279, 4, 1, 16),  # strip byte count
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = strip_offset if tag == 273 else value
        ifd += (
            struct.pack("<HHII", tag, kind, count, value)
            if kind == 4
            else struct.pack("<HHIHH", tag, kind, count, value, 0)
        )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x80" * 16


def with_orientation(rgb: npt.NDArray[np.uint8], orientation: int, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    params: dict[str, Any] = {"exif": exif}
    if fmt == "JPEG":
        params["quality"] = 100
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(Image.fromarray(rgb), fmt, **params)


def animated(fmt: str, colours: list[tuple[int, int, int]], size: tuple[int, int] = (6, 4)) -> bytes:
    """An animation whose frame i is a solid `colours[i]`."""
    frames = [Image.new("RGB", size, c) for c in colours]
    params: dict[str, Any] = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(frames[0], fmt, **params)
