"""JPEG pixels through OpenCV (service.imaging.jpeg_pixels): Pillow's exact pixels, and Pillow's
path wherever OpenCV would decide differently (truncation, CMYK, colour profiles, MPO)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from bench.grabcut_iou import DATA, load_pairs
from service.errors import ApiError, ErrorKind
from service.imaging.decode import decode_image
from service.imaging.jpeg_pixels import jpeg_pixels
from tests.imaging import phone_samples, samples

MAX_PIXELS = 40_000_000


def pillow_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def header(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def real_photo_jpegs() -> list[bytes]:
    pairs = load_pairs(DATA, limit=3)
    assert len(pairs) == 3, f"real photos missing under {DATA}"  # ../shared is required: fail, not skip
    files = [image.read_bytes() for _, image, _ in pairs]
    photo = Image.open(io.BytesIO(files[0])).convert("RGB")
    variants = [
        samples.encode(photo, "JPEG", progressive=True),
        samples.encode(photo, "JPEG", subsampling=0, quality=95),  # 4:4:4
        samples.encode(photo, "JPEG", subsampling=1),  # 4:2:2
        samples.encode(photo.convert("L"), "JPEG"),  # greyscale
        samples.encode(
            photo, "JPEG", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        ),
    ]
    return files + variants


@pytest.mark.parametrize("index", range(8))
def test_photos_decode_to_pillows_exact_pixels_through_opencv(index: int) -> None:
    data = real_photo_jpegs()[index]
    fast = jpeg_pixels(data, header(data))
    assert fast is not None, "the fast path should take this JPEG"
    expected = pillow_rgb(data)
    assert fast.shape == expected.shape and fast.dtype == np.uint8 and fast.flags.c_contiguous
    assert np.array_equal(fast, expected)
    assert np.array_equal(decode_image(data, max_pixels=MAX_PIXELS).rgb, expected)


def test_truncated_jpeg_is_left_to_pillow_which_refuses_it() -> None:
    noisy = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    data = samples.encode(Image.fromarray(noisy), "JPEG")  # mostly entropy-coded data: cut inside it
    truncated = data[: len(data) * 2 // 3]
    assert jpeg_pixels(truncated, header(truncated)) is None  # OpenCV would fill in grey and succeed
    with pytest.raises(ApiError) as caught:
        decode_image(truncated, max_pixels=MAX_PIXELS)
    assert caught.value.kind is ErrorKind.INVALID_IMAGE


def test_cmyk_and_wide_gamut_jpegs_go_through_pillow_and_keep_their_conversions() -> None:
    rgb = Image.fromarray(samples.gradient(64, 48))
    cmyk = samples.encode(rgb.convert("CMYK"), "JPEG")
    p3 = samples.encode(rgb, "JPEG", icc_profile=phone_samples.display_p3_icc())
    for data in (cmyk, p3):
        assert jpeg_pixels(data, header(data)) is None
    # The P3 photo is converted to sRGB (more saturated numbers), not decoded as stored.
    converted = decode_image(p3, max_pixels=MAX_PIXELS).rgb
    assert not np.array_equal(converted, pillow_rgb(p3))


def test_exif_orientation_is_still_applied_once() -> None:
    rgb = samples.gradient(40, 24)
    data = samples.with_orientation(rgb, 6)  # rotate 90 CW to display
    assert jpeg_pixels(data, header(data)) is not None
    decoded = decode_image(data, max_pixels=MAX_PIXELS).rgb
    assert decoded.shape == (40, 24, 3)
    assert np.array_equal(decoded, np.rot90(pillow_rgb(data), -1))
