"""Phone photos: HEIC and AVIF decode with their orientation applied, are refused as bombs from their
declared size before any decoder runs, and ICC-tagged (Display P3) images of every format come out in
sRGB, matching an independent matrix computation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from service.errors import ApiError, ErrorKind
from service.imaging.decode import decode_image
from service.imaging.heif_header import heif_declared_size
from tests.imaging import phone_samples, samples
from tests.imaging.decoder_spy import spy_on, spy_on_pixel_decoding

BIG = 10**7
ENCODERS = {"AVIF": phone_samples.encode_avif, "HEIF": phone_samples.encode_heic}


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_phone_formats_decode_close_to_their_pixels(fmt: str) -> None:
    rgb = samples.gradient(64, 48)
    decoded = decode_image(ENCODERS[fmt](Image.fromarray(rgb)), max_pixels=BIG)
    assert decoded.source_format == fmt
    assert decoded.rgb.shape == (48, 64, 3)
    assert np.abs(decoded.rgb.astype(int) - rgb).mean() < 4  # lossy, but the same picture


def _closest_orientation(decoded: np.ndarray, original: Image.Image) -> int:
    """Which EXIF orientation's display of `original` the decoded pixels are (nearest by mean error)."""
    errors = {}
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        candidate = original.copy()
        candidate.info["exif"] = exif.tobytes()
        shown = np.asarray(ImageOps.exif_transpose(candidate))
        if shown.shape == decoded.shape:
            errors[orientation] = np.abs(shown.astype(int) - decoded).mean()
    return min(errors, key=errors.__getitem__)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_rotation_is_applied_once(orientation: int) -> None:
    original = Image.fromarray(samples.gradient(48, 32))
    data = phone_samples.encode_heic(original, exif_orientation=orientation)
    assert (b"irot" in data or b"imir" in data) == (orientation != 1)  # stored as HEIF transforms
    decoded = decode_image(data, max_pixels=BIG).rgb
    assert _closest_orientation(decoded, original) == orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_avif_rotation_is_applied_once(orientation: int) -> None:
    original = Image.fromarray(samples.gradient(48, 32))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = phone_samples.encode_avif(original, exif=exif.tobytes(), quality=90)
    decoded = decode_image(data, max_pixels=BIG).rgb
    assert _closest_orientation(decoded, original) == orientation


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_declared_size_is_read_from_the_ispe_box(fmt: str) -> None:
    data = ENCODERS[fmt](Image.fromarray(samples.gradient(64, 48)))
    width, height = heif_declared_size(data) or (0, 0)
    # HEVC codes whole blocks (up to 64x64) and crops with a clean-aperture box: the declared size can
    # be that much larger, never smaller.
    assert 64 <= width < 64 + 64 and 48 <= height < 48 + 64
    assert heif_declared_size(phone_samples.with_ispe(data, 30000, 20000)) == (30000, 20000)
    assert heif_declared_size(data[:40]) is None  # the meta box cut off: nothing to read


def _spy_on_decoders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any pixel decoding, and any HEIF/AVIF parser that is even started."""
    import pi_heif.as_plugin
    from PIL import AvifImagePlugin

    calls = spy_on_pixel_decoding(monkeypatch)
    spy_on(monkeypatch, calls, pi_heif.as_plugin._LibHeifImageFile, "_open", "libheif")
    spy_on(monkeypatch, calls, AvifImagePlugin.AvifImageFile, "_open", "libavif")
    return calls


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
@pytest.mark.parametrize(("width", "height"), [(8000, 6000), (16384, 16384), (100_000, 100_000)])
def test_phone_bombs_are_refused_before_any_decoder_runs(
    fmt: str, width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = phone_samples.with_ispe(ENCODERS[fmt](Image.new("RGB", (8, 8))), width, height)
    calls = _spy_on_decoders(monkeypatch)
    with pytest.raises(ApiError) as caught:
        decode_image(data, max_pixels=40_000_000)
    assert caught.value.kind is ErrorKind.IMAGE_TOO_LARGE
    assert f"{width}x{height}" in caught.value.message
    assert calls == []
    # ...and the spy does see the decoder when an image is allowed through.
    decode_image(ENCODERS[fmt](Image.new("RGB", (8, 8))), max_pixels=40_000_000)
    assert calls


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_phone_formats_obey_a_small_max_pixels(fmt: str) -> None:
    data = ENCODERS[fmt](Image.fromarray(samples.gradient(64, 48)))
    with pytest.raises(ApiError) as caught:
        decode_image(data, max_pixels=1000)
    assert caught.value.kind is ErrorKind.IMAGE_TOO_LARGE


# Flat patches survive lossy codecs nearly unchanged; chosen inside both gamuts and out of sRGB's.
P3_PATCHES = (
    np.array(
        [[[200, 100, 50], [220, 60, 50], [40, 60, 200]], [[30, 160, 90], [128, 128, 128], [250, 240, 20]]],
        np.uint8,
    )
    .repeat(16, axis=0)
    .repeat(16, axis=1)
)


def _encode(fmt: str, im: Image.Image, **params: Any) -> bytes:
    if fmt in ENCODERS:
        return ENCODERS[fmt](im, **params)
    return samples.encode(im, fmt, **params)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "AVIF", "HEIF"])
def test_display_p3_photos_are_converted_to_srgb(fmt: str) -> None:
    p3 = phone_samples.display_p3_icc()
    im = Image.fromarray(P3_PATCHES)
    quality = {"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF") else {}
    tagged = decode_image(_encode(fmt, im, icc_profile=p3, **quality), max_pixels=BIG).rgb
    untagged = decode_image(_encode(fmt, im, **quality), max_pixels=BIG).rgb
    # Same codec, same pixels: the only difference is the profile, so compare the transform itself.
    expected = phone_samples.p3_to_srgb(untagged)
    assert np.abs(tagged.astype(float) - expected).max() <= 2
    # Not the dull version: the P3 red patch is a more saturated red in sRGB numbers.
    red = tagged[8, 16 + 8].astype(int)  # the (220, 60, 50) patch: first row, second column
    assert red[0] >= 235 and red[1] <= 40


def test_srgb_tagged_and_untagged_images_are_unchanged() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = samples.gradient(40, 30)
    for params in ({"icc_profile": srgb}, {}):
        decoded = decode_image(samples.encode(Image.fromarray(rgb), "PNG", **params), max_pixels=BIG).rgb
        np.testing.assert_array_equal(decoded, rgb)


def test_alpha_survives_the_colour_conversion() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (220, 60, 50, 255)
    rgba[0, 1] = (220, 60, 50, 0)
    data = samples.encode(Image.fromarray(rgba), "PNG", icc_profile=phone_samples.display_p3_icc())
    rgb = decode_image(data, max_pixels=BIG).rgb
    expected = phone_samples.p3_to_srgb(rgba[0:1, 0:1, :3])[0, 0]
    assert np.abs(rgb[0, 0] - expected).max() <= 2  # opaque: converted
    assert rgb[0, 1].tolist() == [255, 255, 255]  # transparent: still flattened over white


@pytest.mark.parametrize(
    "icc",
    [
        pytest.param(b"not an icc profile at all", id="garbage"),
        pytest.param(phone_samples.display_p3_icc()[:200], id="truncated"),
    ],
)
def test_a_broken_profile_keeps_the_pixels_as_stored(icc: bytes) -> None:
    rgb = samples.gradient(20, 10)
    decoded = decode_image(samples.encode(Image.fromarray(rgb), "PNG", icc_profile=icc), max_pixels=BIG)
    np.testing.assert_array_equal(decoded.rgb, rgb)


def test_an_rgb_profile_on_a_grey_image_is_ignored() -> None:
    data = samples.encode(Image.new("L", (4, 4), 77), "JPEG", icc_profile=phone_samples.display_p3_icc())
    assert (np.abs(decode_image(data, max_pixels=BIG).rgb.astype(int) - 77) <= 1).all()
