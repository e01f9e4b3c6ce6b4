"""Identify an upload from its first bytes, without running any image parser.

The decoder only hands bytes to the Pillow plugin of an allow-listed format; everything else is
classified here by magic numbers alone, so hostile input never reaches the parsers of formats we do
not serve (EPS would even start Ghostscript). Recognised-but-not-allowed image types get a 415, and
bytes that look like nothing we know get a 400.
"""

from __future__ import annotations

import struct

SNIFF_BYTES = 64
"""How many leading bytes `sniff_media_type` needs to see (it works with fewer, less surely)."""

ALLOWED_MEDIA_TYPES: dict[str, str] = {
    # media type -> the one Pillow plugin allowed to parse it
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    # Phone photos. HEIF/HEIC is decoded by pi-heif (libheif + libde265, decode only), AVIF by
    # Pillow's own plugin (libavif with dav1d/aom in Pillow's wheels).
    "image/heif": "HEIF",
    "image/avif": "AVIF",
}

# Fixed prefixes (offset 0). Order matters only where one prefix extends another.
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
    # Recognised, not allowed (415):
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image/jp2"),
    (b"\xff\x4f\xff\x51", "image/jp2"),  # raw JPEG 2000 codestream
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image/jxl"),
    (b"\xff\x0a", "image/jxl"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    # (.cur's 00 00 02 00 is left out: it is also how most TGA files start, and TGA has no magic.)
    (b"8BPS", "image/vnd.adobe.photoshop"),
    (b"qoif", "image/qoi"),
    (b"\x01\xda", "image/sgi"),
    (b"DDS ", "image/vnd-ms.dds"),
    (b"icns", "image/icns"),
    (b"%!PS", "application/postscript"),
    (b"\xc5\xd0\xd3\xc6", "application/postscript"),  # DOS EPS binary header
    (b"v/1\x01", "image/x-exr"),
    (b"#?RADIANCE", "image/vnd.radiance"),
    (b"%PDF-", "application/pdf"),
)

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_GENERIC_BRANDS = {b"mif1", b"msf1"}  # "some HEIF image format": the codec is in the compatible brands


def sniff_media_type(head: bytes) -> str | None:
    """The media type the leading bytes announce (e.g. "image/png"), or None if unrecognised.

    Allowed types are the keys of `ALLOWED_MEDIA_TYPES`; any other return value is a format we
    recognise and refuse. A match says nothing about whether the rest of the file is valid.
    """
    for prefix, media_type in _PREFIXES:
        if head.startswith(prefix):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return _heif_family_type(head)
    # Netpbm: "P1".."P7" then whitespace.
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n":
        return "image/x-portable-anymap"
    stripped = head.lstrip()
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml"
    return None


def _heif_family_type(head: bytes) -> str | None:
    """AVIF or HEIF from an ISO-BMFF `ftyp` box: its major brand, else its compatible brands.

    The major brand decides when it is one we know (an AVIF is often also "mif1"-compatible, a HEIC
    too); a generic major brand ("mif1", "msf1") is resolved by the compatible brands, AVIF first,
    because the HEIF decoder we ship only decodes HEVC (the AVIF plugin takes the AV1 files)."""
    major = head[8:12]
    if major in _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIF_BRANDS - _GENERIC_BRANDS:
        return "image/heif"
    box_size = int.from_bytes(head[0:4], "big")
    compatible = head[16 : min(box_size, len(head))]
    brands = {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIF_BRANDS or brands & _HEIF_BRANDS:
        return "image/heif"
    return None


def webp_canvas_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a WebP header (first 30 bytes), or None if it cannot be read.

    Needed because libwebp's animation decoder allocates the whole canvas when Pillow *opens* the
    file, i.e. before the caller could look at `Image.size`.
    """
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 / height-1
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and head[20] == 0x2F:  # lossless: 14-bit width-1 / height-1
        (bits,) = struct.unpack_from("<I", head, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":  # lossy key frame: 14-bit sizes
        width, height = struct.unpack_from("<HH", head, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None
