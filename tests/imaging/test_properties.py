"""Property-based tests of the imaging layer (hypothesis): any image decodes to H x W x 3 uint8 of
the right size, mangled bytes give an ApiError and never anything else, rendered outputs keep the
input size, and the 8-bit matte is within half a step of the float alpha."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from service.errors import ApiError
from service.imaging.blend import quantize_alpha
from service.imaging.decode import decode_image
from service.imaging.encode import render
from service.imaging.options import ImageFormat, OutputKind, OutputOptions
from tests.imaging import samples

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The modes Pillow can write in each allowed format: every one must decode.
WRITABLE_MODES = {
    "PNG": ["1", "L", "P", "RGB", "RGBA", "LA", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "GIF": ["L", "P"],
    "WEBP": ["RGB", "RGBA"],
    "BMP": ["1", "L", "P", "RGB"],
    "TIFF": ["1", "L", "P", "RGB", "RGBA", "CMYK", "LA", "I;16", "I", "F"],
}
ORIENTABLE = {"PNG", "JPEG", "WEBP"}  # formats Pillow writes EXIF into

sides = st.one_of(st.just(1), st.integers(1, 48))


@st.composite
def encoded_images(draw: st.DrawFn) -> tuple[bytes, int, int, int]:
    """(file bytes, width, height, EXIF orientation) of a random image in a random mode and format."""
    fmt = draw(st.sampled_from(sorted(WRITABLE_MODES)))
    mode = draw(st.sampled_from(WRITABLE_MODES[fmt]))
    width, height = draw(sides), draw(sides)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if mode in ("I;16", "I"):
        im = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16)).convert(mode)
    else:
        rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        im = Image.fromarray(rgba).convert(mode)
    params: dict[str, Any] = {}
    orientation = 1
    if fmt in ORIENTABLE and draw(st.booleans()):
        orientation = draw(st.integers(1, 8))
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif
    return samples.encode(im, fmt, **params), width, height, orientation


@PROPERTY_SETTINGS
@given(encoded_images())
def test_any_writable_image_decodes_to_its_oriented_size(case: tuple[bytes, int, int, int]) -> None:
    data, width, height, orientation = case
    rgb = decode_image(data, max_pixels=width * height).rgb
    expected = (width, height, 3) if orientation >= 5 else (height, width, 3)
    assert rgb.shape == expected
    assert rgb.dtype == np.uint8
    assert rgb.flags.c_contiguous


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(encoded_images())[0])
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["truncate", "flip", "insert", "overwrite-header"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "truncate":
            del data[position:]
        elif action == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            start = draw(st.integers(0, 40))
            data[start : start + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(st.one_of(mangled(), st.binary(max_size=256)))
def test_mangled_bytes_decode_or_raise_api_error_only(data: bytes) -> None:
    max_pixels = 200_000  # mangled headers may claim more: those must be refused, not decoded
    try:
        decoded = decode_image(data, max_pixels=max_pixels)
    except ApiError as error:
        assert error.status in (400, 413, 415)
        return
    rgb = decoded.rgb
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
    assert rgb.shape[0] * rgb.shape[1] <= max_pixels


VALID_OPTIONS = [
    OutputOptions(output=o, format=f)
    for o in OutputKind
    for f in ImageFormat
    if not (o is OutputKind.RGBA and f is ImageFormat.JPEG)
]


@PROPERTY_SETTINGS
@given(sides, sides, st.sampled_from(VALID_OPTIONS), st.integers(0, 2**32 - 1), st.booleans())
def test_render_keeps_the_size_and_the_matte(
    width: int, height: int, options: OutputOptions, seed: int, with_foreground: bool
) -> None:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    alpha = rng.random((height, width), dtype=np.float32)
    alpha[rng.random((height, width)) < 0.3] = 0.0  # mattes are mostly 0 and 1
    foreground = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if with_foreground else None
    rendered = render(rgb, alpha, options, foreground=foreground)

    if options.output is OutputKind.ZIP:
        with zipfile.ZipFile(io.BytesIO(rendered.content)) as archive:
            images = [Image.open(io.BytesIO(archive.read(n))) for n in ("color.jpg", "alpha.png")]
        matte: Image.Image | None = images[1]
    else:
        images = [Image.open(io.BytesIO(rendered.content))]
        matte = images[0] if options.output is OutputKind.MASK else None
    for im in images:
        assert im.size == (width, height)
    lossless_matte = options.output is OutputKind.ZIP or options.format is not ImageFormat.JPEG
    if matte is not None and lossless_matte:
        grey = np.asarray(matte.convert("L"), dtype=np.float64) / 255.0
        assert np.abs(grey - alpha).max() <= 0.5 / 255 + 1e-6


@PROPERTY_SETTINGS
@given(arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 8)), elements=st.floats(width=32)))
def test_quantized_alpha_is_within_half_a_step(alpha: np.ndarray) -> None:
    quantized = quantize_alpha(alpha).astype(np.float64)
    reference = np.clip(np.nan_to_num(alpha.astype(np.float64), nan=0.0), 0.0, 1.0) * 255.0
    assert np.abs(quantized - reference).max() <= 0.5 + 1e-3
