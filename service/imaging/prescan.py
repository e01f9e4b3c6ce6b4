"""A cheap walk over an upload's container structure before Pillow decodes it, for the bombs whose
cost the header's width x height does not show.

- JPEG: a progressive file may hold any number of scans, and libjpeg revisits every coefficient
  block of the scan's components for each one. A 330 KB file with ~4,000 near-empty scans over
  6000x6600 decoded for 27 s. We walk the markers (segment lengths, then the next marker after
  entropy-coded data) the way libjpeg finds them, up to the first EOI, and refuse more than
  `max_jpeg_scans` scans, or scans whose summed component samples exceed `max_jpeg_scan_pixels`
  (a 40 MP 4:2:0 progressive photo from libjpeg costs ~0.3 G; the default allows 1 G, about 2 s
  of libjpeg time on a busy 2-core box: ~2.3 ns per sample and scan, measured).
- GIF: Pillow decodes onto the logical screen, so a 35-byte GIF declaring a 6000x6600 screen around
  a 1x1 frame runs the whole 40 MP pipeline for one pixel of content. A first frame that covers less
  than a quarter of a screen over a megapixel is refused.
- PNG needs nothing here: its decoded size follows from IHDR, which Pillow reads on open, before any
  IDAT is inflated, so the size/shape/memory checks on `Image.size` bound it.

Anything the walk does not understand (truncation, garbage) is left to Pillow, which refuses
undecodable files itself: the walk only ever refuses, it never accepts on Pillow's behalf.
"""

from __future__ import annotations

import re

from service.errors import ApiError, ErrorKind
from service.imaging.bounds import DecodeLimits

# A marker that can end entropy-coded data or follow garbage: 0xFF then anything but a stuffed
# zero, a restart marker (inside a scan) or another 0xFF (fill).
_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_EOI, _SOS = 0xD9, 0xDA
_STANDALONE = frozenset({0x01, 0xD8})  # TEM, SOI: no length field
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC share the range

_GIF_SMALL_SCREEN = 1_000_000  # below this, a sparse screen costs too little to matter
_GIF_MIN_COVERAGE = 4  # the first frame must cover at least 1/4 of a larger screen


def prescan(plugin: str, data: bytes, limits: DecodeLimits) -> None:
    """Raise IMAGE_TOO_LARGE for a JPEG scan bomb or a GIF screen bomb; anything else passes."""
    if plugin == "JPEG":
        _jpeg(data, limits)
    elif plugin == "GIF":
        _gif(data)


def _jpeg(data: bytes, limits: DecodeLimits) -> None:
    component_samples: dict[int, int] = {}  # component id -> samples per scan that includes it
    scans = cost = 0
    pos = 2  # after SOI
    while (match := _MARKER.search(data, pos)) is not None:
        marker, pos = data[match.end() - 1], match.end()
        if marker == _EOI:
            return
        if marker in _STANDALONE:
            continue
        if pos + 2 > len(data):
            return
        length = int.from_bytes(data[pos : pos + 2], "big")
        segment = data[pos + 2 : pos + length]
        if length < 2 or len(segment) != length - 2:
            return  # malformed: Pillow will say so
        if marker in _SOF and not component_samples:
            component_samples = _component_samples(segment)
        elif marker == _SOS and segment:
            scans += 1
            ids = [segment[1 + 2 * i] for i in range(segment[0]) if 2 + 2 * i <= len(segment)]
            cost += sum(component_samples.get(c, 0) for c in ids)
            if scans > limits.max_jpeg_scans:
                raise ApiError(
                    ErrorKind.IMAGE_TOO_LARGE,
                    f"the JPEG has more than {limits.max_jpeg_scans} scans; refused as a decoding "
                    "bomb (re-save it as a baseline or ordinary progressive JPEG)",
                )
            if cost > limits.max_jpeg_scan_pixels:
                raise ApiError(
                    ErrorKind.IMAGE_TOO_LARGE,
                    f"the JPEG's {scans} scans add up to over {limits.max_jpeg_scan_pixels:,} "
                    "decoded samples; refused as a decoding bomb",
                )
        pos += length


def _component_samples(sof: bytes) -> dict[int, int]:
    """Samples per component from a SOF segment: width x height scaled by its sampling factors."""
    if len(sof) < 6:
        return {}
    height, width, count = int.from_bytes(sof[1:3], "big"), int.from_bytes(sof[3:5], "big"), sof[5]
    entries = [sof[6 + 3 * i : 9 + 3 * i] for i in range(count)]
    entries = [e for e in entries if len(e) == 3]
    if not entries:
        return {}
    h_max = max(e[1] >> 4 for e in entries) or 1
    v_max = max(e[1] & 0x0F for e in entries) or 1
    return {e[0]: width * height * (e[1] >> 4) * (e[1] & 0x0F) // (h_max * v_max) for e in entries}


def _gif(data: bytes) -> None:
    if len(data) < 13:
        return
    screen_w, screen_h = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    pos = 13 + (3 << ((data[10] & 0x07) + 1) if data[10] & 0x80 else 0)  # global colour table
    while pos < len(data):
        block = data[pos]
        if block == 0x21:  # extension: label, then sub-blocks up to a zero length
            pos += 2
            while pos < len(data) and data[pos]:
                pos += data[pos] + 1
            pos += 1
        elif block == 0x2C:  # image descriptor: left, top, width, height
            if pos + 9 > len(data):
                return
            left, top, width, height = (
                int.from_bytes(data[pos + i : pos + i + 2], "little") for i in (1, 3, 5, 7)
            )
            # Pillow grows the canvas to hold a frame that sticks out of the screen.
            canvas = max(screen_w, left + width) * max(screen_h, top + height)
            if canvas > _GIF_SMALL_SCREEN and width * height * _GIF_MIN_COVERAGE < canvas:
                raise ApiError(
                    ErrorKind.IMAGE_TOO_LARGE,
                    f"the GIF's {width}x{height} first frame sits on a {screen_w}x{screen_h} screen; "
                    "refused as a decoding bomb (crop the GIF to its content)",
                )
            return
        else:
            return  # trailer or garbage: Pillow decides
