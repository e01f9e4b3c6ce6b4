from __future__ import annotations

import pytest
from PIL import Image

from service.imaging.sniff import ALLOWED_MEDIA_TYPES, sniff_media_type, webp_canvas_size
from tests.imaging import samples


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("ICO", "image/x-icon"),
        ("PPM", "image/x-portable-anymap"),
        ("JPEG2000", "image/jp2"),
        ("AVIF", "image/avif"),
        ("QOI", "image/qoi"),
        ("SGI", "image/sgi"),
        ("DDS", "image/vnd-ms.dds"),
    ],
)
def test_files_pillow_writes_are_recognised(fmt: str, media_type: str) -> None:
    im = Image.new("RGB", (8, 8), (10, 20, 30))
    data = samples.encode(im.convert("P") if fmt == "GIF" else im, fmt)
    assert sniff_media_type(data[:32]) == media_type
    allowed = {"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF"}
    assert (media_type in ALLOWED_MEDIA_TYPES) == (fmt in allowed)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", None),
        (b"\xff\xd8", None),  # too short to be sure
        (b"hello world", None),
        (b"\x00\x00\x00\x1cftypheic\x00\x00", "image/heif"),
        # A generic major brand is resolved by the compatible brands (AVIF wins: AV1 in HEIF).
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf", "image/heif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1", "image/heif"),
        (b"\x00\x00\x00\x18ftypavis\x00\x00\x00\x00avismif1", "image/avif"),
        # A compatible brand past the end of the ftyp box belongs to the next box: not read.
        (b"\x00\x00\x00\x10ftypmif1\x00\x00\x00\x00avif", "image/heif"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", None),  # MP4 video
        (b"  <svg xmlns='http://www.w3.org/2000/svg'>", "image/svg+xml"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),  # RIFF, but audio
        (b"P6\n8 8\n255\n", "image/x-portable-anymap"),
        (b"P9\n", None),
    ],
)
def test_sniff_edge_cases(head: bytes, expected: str | None) -> None:
    assert sniff_media_type(head) == expected


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"quality": 80}, id="lossy-VP8"),
        pytest.param({"lossless": True}, id="lossless-VP8L"),
        pytest.param({"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"}, id="extended-VP8X"),
    ],
)
@pytest.mark.parametrize("size", [(1, 1), (37, 5), (16383, 2)])
def test_webp_canvas_size_matches_pillow(params: dict[str, object], size: tuple[int, int]) -> None:
    data = samples.encode(Image.new("RGB", size, (1, 2, 3)), "WEBP", **params)
    assert webp_canvas_size(data[:30]) == size


def test_webp_canvas_size_of_non_webp_is_none() -> None:
    assert webp_canvas_size(b"RIFF\x00\x00\x00\x00WEBPXXXX" + bytes(20)) is None
    assert webp_canvas_size(b"\x89PNG\r\n\x1a\n" + bytes(30)) is None
    assert webp_canvas_size(b"RIFF") is None
