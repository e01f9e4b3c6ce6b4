"""Hostile images that are small on the wire and expensive to decode, built in memory (never
holding their pixels where the format allows it). Used by the decode tests and `bench.attack`."""

from __future__ import annotations

import io
import re
import struct
import zlib

from PIL import Image

_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_SOS, _EOI = 0xDA, 0xD9


def scan_bomb_jpeg(width: int, height: int, scans: int) -> bytes:
    """A decodable progressive greyscale JPEG with `scans` scans: libjpeg's own six for a flat grey
    image, then copies of the last one (an AC refinement scan: a Huffman table and a few EOB runs,
    ~60 bytes) up to `scans`. libjpeg warns about the bogus progression and decodes every scan,
    revisiting each coefficient block each time."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    markers = _markers(data)
    sos = [offset for marker, offset in markers if marker == _SOS]
    if scans < len(sos):
        raise ValueError(f"libjpeg already writes {len(sos)} scans")
    # The last scan's bytes start at the first marker after the previous scan's SOS (its DHT).
    previous = sos[-2]
    start = next(offset for _, offset in markers if offset > previous)
    eoi = next(offset for marker, offset in markers if marker == _EOI)
    last_scan = data[start:eoi]
    return data[:eoi] + last_scan * (scans - len(sos)) + data[eoi:]


def _markers(data: bytes) -> list[tuple[int, int]]:
    """(marker, offset) of every segment, skipping segment payloads and entropy-coded data."""
    found: list[tuple[int, int]] = []
    pos = 2
    while (match := _MARKER.search(data, pos)) is not None:
        marker, offset = data[match.end() - 1], match.start()
        found.append((marker, offset))
        pos = match.end()
        if marker == _EOI:
            break
        pos += int.from_bytes(data[pos : pos + 2], "big")
    return found


def gif_screen_bomb(width: int, height: int) -> bytes:
    """A ~35-byte GIF: a 1x1 frame on a width x height logical screen."""
    buffer = io.BytesIO()
    Image.new("P", (1, 1)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def zero_png(width: int, height: int, *, colour_type: int = 2) -> bytes:
    """A valid all-zero 8-bit PNG (RGB by default), compressed as a stream: a 40 MP one is ~120 KB
    and its pixels are never held here."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    compressor = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    parts = []
    for _ in range(height):
        parts.append(compressor.compress(b"\x00"))  # filter byte: none
        left = width * channels
        while left:
            parts.append(compressor.compress(zeros[: min(left, len(zeros))]))
            left -= min(left, len(zeros))
    idat = b"".join(parts) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
