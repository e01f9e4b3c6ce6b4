"""The hostile-input corpus: every case is written to a file in tmp_path, read back as an upload
would be, and must give exactly its expected outcome: a decoded size, or one ApiError kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import bombs
from service.errors import ApiError, ErrorKind
from service.imaging.decode import decode_image
from tests.imaging import phone_samples, samples

MAX_PIXELS = 40_000_000
INVALID = ErrorKind.INVALID_IMAGE
UNSUPPORTED = ErrorKind.UNSUPPORTED_MEDIA_TYPE
TOO_LARGE = ErrorKind.IMAGE_TOO_LARGE


@dataclass(frozen=True)
class Case:
    build: Callable[[], bytes]
    expect: tuple[int, int] | ErrorKind  # (width, height) after orientation, or the error kind


def _rgb(width: int, height: int) -> Image.Image:
    return Image.fromarray(samples.gradient(width, height))


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_png_idat() -> bytes:
    data = bytearray(samples.encode(_rgb(64, 48), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = b"\xa5" * 40  # breaks the deflate stream and the CRC
    return bytes(data)


def _palette_with_transparency() -> bytes:
    im = Image.new("P", (9, 7), 1)
    im.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    return samples.encode(im, "PNG", transparency=1)


def _mpo() -> bytes:
    frames = [_rgb(10, 6), Image.new("RGB", (10, 6), (0, 255, 0))]
    return samples.encode(frames[0], "MPO", save_all=True, append_images=frames[1:])


def _multipage_tiff() -> bytes:
    pages = [_rgb(12, 5), Image.new("RGB", (30, 30))]
    return samples.encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def _bad_exif_jpeg() -> bytes:
    # An APP1 "Exif" segment whose TIFF header is garbage: decode anyway, as orientation 1.
    good = samples.encode(_rgb(10, 4), "JPEG")
    app1 = b"Exif\x00\x00" + b"XX\xff\xff" + b"\x07" * 40
    segment = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    return good[:2] + segment + good[2:]


CASES: dict[str, Case] = {
    # --- not images / broken images -> 400
    "empty": Case(lambda: b"", INVALID),
    "random-bytes": Case(lambda: np.random.default_rng(1).bytes(4096), INVALID),
    "text": Case(lambda: b"hello, this is not an image\n" * 10, INVALID),
    "tga-has-no-signature": Case(lambda: samples.encode(_rgb(8, 8), "TGA"), INVALID),
    "jpeg-truncated": Case(lambda: _truncated(samples.encode(_rgb(256, 128), "JPEG")), INVALID),
    "png-truncated": Case(lambda: _truncated(samples.encode(_rgb(256, 128), "PNG")), INVALID),
    "gif-truncated": Case(lambda: _truncated(samples.encode(_rgb(256, 128).convert("P"), "GIF")), INVALID),
    "webp-truncated": Case(lambda: _truncated(samples.encode(_rgb(256, 128), "WEBP")), INVALID),
    "tiff-truncated": Case(lambda: _truncated(samples.encode(_rgb(256, 128), "TIFF")), INVALID),
    "bmp-truncated": Case(lambda: _truncated(samples.encode(_rgb(256, 128), "BMP")), INVALID),
    "jpeg-magic-only": Case(lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 60, INVALID),
    "png-signature-only": Case(lambda: b"\x89PNG\r\n\x1a\n", INVALID),
    "png-corrupt-idat": Case(_corrupt_png_idat, INVALID),
    "png-header-lies-small": Case(lambda: samples.png_header_claiming(50, 50), INVALID),
    "png-zero-width": Case(lambda: samples.png_header_claiming(0, 10), INVALID),
    "png-ztxt-bomb": Case(samples.png_with_ztxt_bomb, INVALID),  # Pillow's MAX_TEXT_CHUNK
    "avif-truncated": Case(lambda: _truncated(phone_samples.encode_avif(_rgb(256, 128))), INVALID),
    "heic-truncated": Case(lambda: _truncated(phone_samples.encode_heic(_rgb(256, 128))), INVALID),
    "heic-ftyp-only": Case(lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", INVALID),
    "avif-ftyp-only": Case(lambda: b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif", INVALID),
    # --- recognised, not allowed -> 415
    "ico": Case(lambda: samples.encode(_rgb(16, 16), "ICO"), UNSUPPORTED),
    "ppm": Case(lambda: samples.encode(_rgb(8, 8), "PPM"), UNSUPPORTED),
    "jpeg2000": Case(lambda: samples.encode(_rgb(8, 8), "JPEG2000"), UNSUPPORTED),
    "qoi": Case(lambda: samples.encode(_rgb(8, 8), "QOI"), UNSUPPORTED),
    "psd-header": Case(lambda: b"8BPS\x00\x01" + b"\x00" * 64, UNSUPPORTED),
    "svg": Case(lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', UNSUPPORTED),
    "eps": Case(lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", UNSUPPORTED),
    # --- pixel count over the limit, refused from the header -> 413
    "png-claims-100000x100000": Case(lambda: samples.png_header_claiming(100_000, 100_000), TOO_LARGE),
    "png-claims-8000x6000": Case(lambda: samples.png_header_claiming(8000, 6000), TOO_LARGE),
    "gif-claims-65535x65535": Case(lambda: samples.gif_claiming(65535, 65535), TOO_LARGE),
    "jpeg-claims-65500x65500": Case(lambda: samples.jpeg_claiming(65500, 65500), TOO_LARGE),
    "webp-claims-16384x16384": Case(lambda: samples.webp_claiming(16384, 16384), TOO_LARGE),
    "bmp-claims-100000x100000": Case(lambda: samples.bmp_claiming(100_000, 100_000), TOO_LARGE),
    "tiff-claims-100000x100000": Case(lambda: samples.tiff_claiming(100_000, 100_000), TOO_LARGE),
    "png-48mp-of-zeros": Case(lambda: samples.png_from_rows(8000, 6000, bytes(8001)), TOO_LARGE),
    "avif-claims-16384x16384": Case(
        lambda: phone_samples.with_ispe(phone_samples.encode_avif(_rgb(8, 8)), 16384, 16384), TOO_LARGE
    ),
    "heic-claims-100000x100000": Case(
        lambda: phone_samples.with_ispe(phone_samples.encode_heic(_rgb(8, 8)), 100_000, 100_000), TOO_LARGE
    ),
    # Strips: foreground estimation's blur radius follows the long side, so a 20000x1 cut-out
    # needed ~84 KB per pixel (1.7 GB); refused from the header by the aspect-ratio guard.
    "1x20000-png": Case(lambda: samples.encode(_rgb(1, 20000), "PNG"), TOO_LARGE),
    "20000x1-jpeg": Case(lambda: samples.encode(_rgb(20000, 1), "JPEG"), TOO_LARGE),
    "jpeg-4000-scans": Case(lambda: bombs.scan_bomb_jpeg(64, 64, 4000), TOO_LARGE),
    "gif-1x1-frame-on-6000x6600-screen": Case(lambda: bombs.gif_screen_bomb(6000, 6600), TOO_LARGE),
    # --- awkward but valid -> decoded, size after orientation
    "1x1-png": Case(lambda: samples.encode(_rgb(1, 1), "PNG"), (1, 1)),
    "1x1-jpeg": Case(lambda: samples.encode(_rgb(1, 1), "JPEG"), (1, 1)),
    "1x1-gif": Case(lambda: samples.encode(_rgb(1, 1).convert("P"), "GIF"), (1, 1)),
    "1x1-webp": Case(lambda: samples.encode(_rgb(1, 1), "WEBP"), (1, 1)),
    "1x1-bmp": Case(lambda: samples.encode(_rgb(1, 1), "BMP"), (1, 1)),
    "1x1-tiff": Case(lambda: samples.encode(_rgb(1, 1), "TIFF"), (1, 1)),
    "1x1-avif": Case(lambda: phone_samples.encode_avif(_rgb(1, 1)), (1, 1)),
    "1x1-heic": Case(lambda: phone_samples.encode_heic(_rgb(1, 1)), (1, 1)),
    "rgba-avif": Case(lambda: phone_samples.encode_avif(Image.new("RGBA", (6, 2), (9, 9, 9, 9))), (6, 2)),
    "rgba-heic": Case(lambda: phone_samples.encode_heic(Image.new("RGBA", (6, 2), (9, 9, 9, 9))), (6, 2)),
    "grey-avif": Case(lambda: phone_samples.encode_avif(Image.new("L", (5, 3), 77)), (5, 3)),
    "1x1280-png": Case(lambda: samples.encode(_rgb(1, 1280), "PNG"), (1, 1280)),
    "1280x1-jpeg": Case(lambda: samples.encode(_rgb(1280, 1), "JPEG"), (1280, 1)),
    "cmyk-jpeg": Case(lambda: samples.encode(_rgb(20, 10).convert("CMYK"), "JPEG"), (20, 10)),
    "cmyk-tiff": Case(lambda: samples.encode(_rgb(20, 10).convert("CMYK"), "TIFF"), (20, 10)),
    "16bit-png": Case(lambda: samples.encode(Image.new("I;16", (9, 4), 40000), "PNG"), (9, 4)),
    "16bit-tiff": Case(lambda: samples.encode(Image.new("I;16", (9, 4), 40000), "TIFF"), (9, 4)),
    "32bit-int-tiff": Case(lambda: samples.encode(Image.new("I", (9, 4), 40000), "TIFF"), (9, 4)),
    "float-tiff": Case(lambda: samples.encode(Image.new("F", (9, 4), 0.5), "TIFF"), (9, 4)),
    "palette-transparency-png": Case(_palette_with_transparency, (9, 7)),
    "la-png": Case(lambda: samples.encode(Image.new("LA", (5, 3), (100, 50)), "PNG"), (5, 3)),
    "l-jpeg": Case(lambda: samples.encode(Image.new("L", (5, 3), 77), "JPEG"), (5, 3)),
    "1bit-png": Case(lambda: samples.encode(Image.new("1", (17, 3), 1), "PNG"), (17, 3)),
    "1bit-bmp": Case(lambda: samples.encode(Image.new("1", (17, 3), 1), "BMP"), (17, 3)),
    "1bit-tiff-g4": Case(
        lambda: samples.encode(Image.new("1", (17, 3), 1), "TIFF", compression="group4"), (17, 3)
    ),
    "rgba-png": Case(lambda: samples.encode(Image.new("RGBA", (6, 2), (0, 0, 0, 0)), "PNG"), (6, 2)),
    "rgba-webp": Case(lambda: samples.encode(Image.new("RGBA", (6, 2), (9, 9, 9, 9)), "WEBP"), (6, 2)),
    "rgba-tiff": Case(lambda: samples.encode(Image.new("RGBA", (6, 2), (9, 9, 9, 9)), "TIFF"), (6, 2)),
    "animated-gif": Case(lambda: samples.animated("GIF", [(255, 0, 0), (0, 0, 255)]), (6, 4)),
    "animated-webp": Case(lambda: samples.animated("WEBP", [(255, 0, 0), (0, 0, 255)]), (6, 4)),
    "apng": Case(lambda: samples.animated("PNG", [(255, 0, 0), (0, 0, 255)]), (6, 4)),
    "mpo": Case(_mpo, (10, 6)),
    "multipage-tiff": Case(_multipage_tiff, (12, 5)),
    "jpeg-bad-exif": Case(_bad_exif_jpeg, (10, 4)),
    # libjpeg fills a scan that ends early (EOI present) with grey, as browsers do.
    "jpeg-claims-more-rows-than-data": Case(lambda: samples.jpeg_claiming(64, 64), (64, 64)),
    **{
        f"exif-orientation-{o}": Case(
            lambda o=o: samples.with_orientation(samples.gradient(30, 20), o),  # type: ignore[misc]
            (20, 30) if o >= 5 else (30, 20),
        )
        for o in range(1, 9)
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_case_has_its_outcome(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    path = tmp_path / f"{name}.bin"
    path.write_bytes(case.build())
    data = path.read_bytes()
    if isinstance(case.expect, ErrorKind):
        with pytest.raises(ApiError) as caught:
            decode_image(data, max_pixels=MAX_PIXELS)
        assert caught.value.kind is case.expect, caught.value.message
        assert caught.value.message
    else:
        decoded = decode_image(data, max_pixels=MAX_PIXELS)
        assert (decoded.width, decoded.height) == case.expect
        assert decoded.rgb.shape == (case.expect[1], case.expect[0], 3)
        assert decoded.rgb.dtype == np.uint8
        assert decoded.rgb.flags.c_contiguous
