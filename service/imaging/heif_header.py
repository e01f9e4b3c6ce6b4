"""The image size a HEIF or AVIF file declares, read from its boxes without running a decoder.

Why our own read: libheif and libavif refuse sizes over their own limits while *parsing* (an error
we could only map to "invalid image"), and the limits differ from ours. Reading the declared size
first lets a HEIC/AVIF bomb get the same IMAGE_TOO_LARGE (413) as any other format, before either
library sees the file.

HEIF (ISO/IEC 23008-12) and AVIF share the ISO-BMFF layout: top-level boxes, one of them `meta`,
holding `iprp` -> `ipco`, a list of item properties. Every image item has an `ispe` property
(image spatial extents: width and height in pixels). We return the largest one: the primary image
(or the grid a phone tiles it into) is the largest item in any real photo, and an `ispe` larger
than that is no photo either. Only boxes inside the bytes given are read; the walk is bounded.
"""

from __future__ import annotations

_MAX_BOXES = 4096  # per level; a real file has a handful
_FULL_BOX_HEADER = 4  # version (1 byte) + flags (3 bytes)


def heif_declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the largest `ispe` in the file, or None when there is none to read."""
    meta = _find_box(data, 0, len(data), b"meta")
    if meta is None:
        return None
    iprp = _find_box(data, meta[0] + _FULL_BOX_HEADER, meta[1], b"iprp")
    if iprp is None:
        return None
    ipco = _find_box(data, iprp[0], iprp[1], b"ipco")
    if ipco is None:
        return None
    largest: tuple[int, int] | None = None
    for kind, start, end in _boxes(data, ipco[0], ipco[1]):
        if kind != b"ispe" or end - start < _FULL_BOX_HEADER + 8:
            continue
        body = start + _FULL_BOX_HEADER
        width = int.from_bytes(data[body : body + 4], "big")
        height = int.from_bytes(data[body + 4 : body + 8], "big")
        if largest is None or width * height > largest[0] * largest[1]:
            largest = (width, height)
    return largest


def _find_box(data: bytes, start: int, end: int, wanted: bytes) -> tuple[int, int] | None:
    """(payload start, payload end) of the first `wanted` box among the boxes in data[start:end]."""
    for kind, payload_start, payload_end in _boxes(data, start, end):
        if kind == wanted:
            return payload_start, payload_end
    return None


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes in data[start:end] as (type, payload start, payload end); stops at the first box
    that does not fit, since nothing after it can be trusted."""
    found: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end and len(found) < _MAX_BOXES:
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        header = 8
        if size == 1:  # 64-bit size follows the type
            if offset + 16 > end:
                break
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            header = 16
        elif size == 0:  # the box runs to the end of its container
            size = end - offset
        if size < header or offset + size > end:
            break
        found.append((kind, offset + header, offset + size))
        offset += size
    return found
