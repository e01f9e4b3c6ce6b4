"""decode_image's documented policies: formats, alpha flattening, 16-bit scaling, first frames,
EXIF orientation, the pixel limit (before any pixel is decoded), a real photo, thread safety."""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps, WebPImagePlugin

from service.errors import ApiError, ErrorKind
from service.imaging.decode import decode_image
from service.imaging.pillow_safety import pillow_pixel_ceiling
from tests.imaging import samples
from tests.imaging.decoder_spy import spy_on, spy_on_pixel_decoding
from tests.locations import require_shared

BIG = 10**7


def _decode(data: bytes, max_pixels: int = BIG) -> np.ndarray:
    return decode_image(data, max_pixels=max_pixels).rgb


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("JPEG", "JPEG"), ("PNG", "PNG"), ("GIF", "GIF"), ("WEBP", "WEBP"), ("BMP", "BMP"), ("TIFF", "TIFF")],
)
def test_each_allowed_format_decodes_and_reports_its_name(fmt: str, expected: str) -> None:
    rgb = samples.gradient(23, 11)
    im = Image.fromarray(rgb)
    data = samples.encode(im.convert("P") if fmt == "GIF" else im, fmt)
    decoded = decode_image(data, max_pixels=BIG)
    assert decoded.source_format == expected
    assert decoded.rgb.shape == (11, 23, 3)
    if fmt in ("PNG", "BMP", "TIFF"):  # lossless: exact pixels
        np.testing.assert_array_equal(decoded.rgb, rgb)


def test_result_is_a_fresh_writable_contiguous_array() -> None:
    data = samples.encode(Image.fromarray(samples.gradient(8, 8)), "PNG")
    first, second = _decode(data), _decode(data)
    assert first.flags.c_contiguous and first.flags.writeable
    first[:] = 0
    assert second.any()


def test_alpha_is_composited_over_white() -> None:
    pixels = np.array([[[0, 0, 0, 0], [200, 10, 10, 255], [200, 10, 10, 128], [0, 0, 0, 1]]], np.uint8)
    rgb = _decode(samples.encode(Image.fromarray(pixels), "PNG"))
    expected_half = [round((200 * 128 + 255 * 127) / 255), round((10 * 128 + 255 * 127) / 255)]
    assert rgb[0, 0].tolist() == [255, 255, 255]  # fully transparent: white, not the hidden black
    assert rgb[0, 1].tolist() == [200, 10, 10]  # opaque: colour kept
    assert rgb[0, 2].tolist() == [expected_half[0], expected_half[1], expected_half[1]]
    assert rgb[0, 3].tolist() == [254, 254, 254]


def test_palette_transparency_and_la_are_flattened_over_white() -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([200, 10, 10, 0, 255, 0] + [0] * 762)
    im.putpixel((1, 0), 1)
    rgb = _decode(samples.encode(im, "PNG", transparency=1))
    assert rgb[0].tolist() == [[200, 10, 10], [255, 255, 255]]
    gif = _decode(samples.encode(im, "GIF", transparency=1))
    assert gif[0].tolist() == [[200, 10, 10], [255, 255, 255]]
    la = _decode(samples.encode(Image.new("LA", (1, 1), (100, 0)), "PNG"))
    assert la[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (128, 0), (129, 1), (40000, 156), (65535, 255)])
@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "PNG"), ("I;16", "TIFF"), ("I", "TIFF")])
def test_sixteen_bit_samples_are_scaled_not_clipped(mode: str, fmt: str, value: int, expected: int) -> None:
    rgb = _decode(samples.encode(Image.new(mode, (3, 2), value), fmt))
    assert (rgb == expected).all()


def test_cmyk_jpeg_keeps_its_colours() -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (220, 40, 30)
    rgb[:, 8:] = (30, 60, 200)
    data = samples.encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95)
    decoded = _decode(data).astype(int)
    assert np.abs(decoded[4:12, 2:6] - rgb[4:12, 2:6]).max() <= 12
    assert np.abs(decoded[4:12, 10:14] - rgb[4:12, 10:14]).max() <= 12


def test_one_bit_and_grey_become_grey_rgb() -> None:
    im = Image.new("1", (4, 1))
    im.putpixel((2, 0), 1)
    assert _decode(samples.encode(im, "PNG"))[0, :, 0].tolist() == [0, 0, 255, 0]
    grey = _decode(samples.encode(Image.new("L", (2, 2), 77), "PNG"))
    assert (grey == 77).all()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animations_give_their_first_frame(fmt: str) -> None:
    data = samples.animated(fmt, [(255, 0, 0), (0, 0, 255), (0, 255, 0)])
    assert (_decode(data) == (255, 0, 0)).all()


def test_mpo_and_multipage_tiff_give_the_first_image() -> None:
    first = samples.gradient(10, 6)
    mpo = samples.encode(
        Image.fromarray(first), "MPO", save_all=True, append_images=[Image.new("RGB", (10, 6), (0, 255, 0))]
    )
    decoded = decode_image(mpo, max_pixels=BIG)
    assert decoded.source_format == "JPEG"
    assert np.abs(decoded.rgb.astype(int) - first).mean() < 8
    tiff = samples.encode(
        Image.fromarray(first), "TIFF", save_all=True, append_images=[Image.new("RGB", (30, 30))]
    )
    np.testing.assert_array_equal(_decode(tiff), first)


def _reference_orientation(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.array(ImageOps.exif_transpose(im).convert("RGB"))


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_exif_orientation_matches_pillow_exif_transpose(orientation: int, fmt: str) -> None:
    data = samples.with_orientation(samples.gradient(13, 7), orientation, fmt)
    np.testing.assert_array_equal(_decode(data), _reference_orientation(data))
    assert _decode(data).shape == ((13, 7, 3) if orientation >= 5 else (7, 13, 3))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation_tag_is_applied(orientation: int) -> None:
    rgb = samples.gradient(13, 7)
    data = samples.encode(Image.fromarray(rgb), "TIFF", tiffinfo={0x0112: orientation})
    np.testing.assert_array_equal(_decode(data), _reference_orientation(data))
    assert not np.array_equal(_decode(data)[:7, :7], rgb[:7, :7])


def test_max_pixels_is_inclusive() -> None:
    data = samples.encode(Image.new("RGB", (10, 10)), "PNG")
    assert _decode(data, max_pixels=100).shape == (10, 10, 3)
    with pytest.raises(ApiError) as caught:
        _decode(data, max_pixels=99)
    assert caught.value.kind is ErrorKind.IMAGE_TOO_LARGE
    assert caught.value.status == 413


def test_rotated_images_count_the_same_pixels() -> None:
    data = samples.with_orientation(samples.gradient(20, 5), 6)
    assert _decode(data, max_pixels=100).shape == (20, 5, 3)
    with pytest.raises(ApiError):
        _decode(data, max_pixels=99)


def _spy_on_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls = spy_on_pixel_decoding(monkeypatch)
    spy_on(monkeypatch, calls, WebPImagePlugin._webp, "WebPAnimDecoder", "libwebp decoder")
    return calls


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(lambda: samples.png_from_rows(8000, 6000, bytes(8001)), id="png-48mp-of-zeros-47kb"),
        pytest.param(lambda: samples.png_header_claiming(100_000, 100_000), id="png-header-10-gigapixels"),
        pytest.param(lambda: samples.webp_claiming(8000, 6000), id="webp-canvas-48mp"),
        pytest.param(lambda: samples.gif_claiming(9000, 9000), id="gif-81mp"),
    ],
)
def test_bombs_are_refused_before_any_pixel_is_decoded(bomb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bomb()
    calls = _spy_on_pixel_decoding(monkeypatch)
    with pytest.raises(ApiError) as caught:
        decode_image(data, max_pixels=40_000_000)
    assert caught.value.kind is ErrorKind.IMAGE_TOO_LARGE
    assert calls == []
    # ...and the spy does see decoding when an image is allowed through.
    decode_image(samples.encode(Image.new("RGB", (4, 4)), "WEBP"), max_pixels=40_000_000)
    assert calls


@pytest.mark.parametrize("bomb_warning_filter", ["error", "ignore", "default"])
def test_pillow_bomb_limit_caps_a_larger_max_pixels(bomb_warning_filter: Any) -> None:
    ceiling = pillow_pixel_ceiling()
    assert ceiling is not None
    side = int(ceiling**0.5) + 1  # just over Pillow's DecompressionBombWarning threshold
    data = samples.png_from_rows(side, side, bytes(side + 1))
    with warnings.catch_warnings():  # the outcome must not depend on the process's filters
        warnings.simplefilter(bomb_warning_filter, Image.DecompressionBombWarning)
        with pytest.raises(ApiError) as caught:
            decode_image(data, max_pixels=10 * ceiling)
    assert caught.value.kind is ErrorKind.IMAGE_TOO_LARGE


def test_a_real_photo_decodes() -> None:
    photos = sorted(require_shared(samples.UNLABELED).glob("*.jpg"))
    assert photos, f"no JPEG photos in {samples.UNLABELED}"
    data = photos[0].read_bytes()
    decoded = decode_image(data, max_pixels=40_000_000)
    expected = _reference_orientation(data)
    assert decoded.source_format == "JPEG"
    assert decoded.rgb.shape == expected.shape
    np.testing.assert_array_equal(decoded.rgb, expected)


def test_concurrent_decodes_equal_serial_ones() -> None:
    inputs = [
        samples.encode(Image.fromarray(samples.gradient(40 + i, 30)), fmt)
        for i, fmt in enumerate(["PNG", "JPEG", "WEBP", "TIFF", "BMP"] * 4)
    ]
    serial = [_decode(data) for data in inputs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(_decode, inputs))
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)
