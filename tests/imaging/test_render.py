"""render: every output x format decodes back with the right mode, size and pixels."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from service.errors import ApiError, ErrorKind
from service.imaging.blend import quantize_alpha
from service.imaging.encode import check_renderable, render
from service.imaging.options import ImageFormat, OutputKind, OutputOptions
from service.imaging.png import FAST_PNG_AVAILABLE, encode_png
from tests.imaging import samples
from tests.locations import modules_loaded_by

H, W = 37, 53  # odd sizes catch stride and subsampling mistakes


def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rgb = samples.gradient(W, H)
    yy, xx = np.mgrid[0:H, 0:W]
    alpha = np.clip(1.4 - np.hypot((yy - H / 2) / (H / 2), (xx - W / 2) / (W / 2)), 0, 1).astype(np.float32)
    alpha[0, 0], alpha[0, 1] = 0.0, 1.0
    foreground = (255 - rgb).astype(np.uint8)  # distinguishable from rgb
    return rgb, alpha, foreground


def composite_reference(
    colour: np.ndarray, alpha8: np.ndarray, background: tuple[int, int, int]
) -> np.ndarray:
    """round((c*a + b*(255-a)) / 255) in plain integer numpy: an independent check of Pillow's paste."""
    a = alpha8[..., None].astype(np.int64)
    mixed = colour.astype(np.int64) * a + np.asarray(background, np.int64) * (255 - a)
    return ((mixed + 127) // 255).astype(np.uint8)


def _open(content: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(content))
    im.load()
    return im


# (output, format) -> (media type, extension, decoded mode)
COMBINATIONS = {
    (OutputKind.RGBA, ImageFormat.PNG): ("image/png", "png", "RGBA"),
    (OutputKind.RGBA, ImageFormat.WEBP): ("image/webp", "webp", "RGBA"),
    (OutputKind.MASK, ImageFormat.PNG): ("image/png", "png", "L"),
    (OutputKind.MASK, ImageFormat.WEBP): ("image/webp", "webp", "RGB"),  # WebP has no grey mode
    (OutputKind.MASK, ImageFormat.JPEG): ("image/jpeg", "jpg", "L"),
    (OutputKind.COMPOSITE, ImageFormat.PNG): ("image/png", "png", "RGB"),
    (OutputKind.COMPOSITE, ImageFormat.WEBP): ("image/webp", "webp", "RGB"),
    (OutputKind.COMPOSITE, ImageFormat.JPEG): ("image/jpeg", "jpg", "RGB"),
}
LOSSLESS = {
    (OutputKind.RGBA, ImageFormat.PNG),
    (OutputKind.RGBA, ImageFormat.WEBP),
    (OutputKind.MASK, ImageFormat.PNG),
    (OutputKind.MASK, ImageFormat.WEBP),
    (OutputKind.COMPOSITE, ImageFormat.PNG),
}


def test_every_combination_is_listed() -> None:
    listed = (
        set(COMBINATIONS) | {(OutputKind.ZIP, f) for f in ImageFormat} | {(OutputKind.RGBA, ImageFormat.JPEG)}
    )
    assert listed == {(o, f) for o in OutputKind for f in ImageFormat}


@pytest.mark.parametrize(("output", "fmt"), sorted(COMBINATIONS))
def test_output_decodes_with_mode_size_and_pixels(output: OutputKind, fmt: ImageFormat) -> None:
    rgb, alpha, foreground = _inputs()
    options = OutputOptions(output=output, format=fmt, bg_color=(10, 200, 30))
    rendered = render(rgb, alpha, options, foreground=foreground)
    media_type, extension, mode = COMBINATIONS[(output, fmt)]
    assert (rendered.media_type, rendered.extension) == (media_type, extension)
    im = _open(rendered.content)
    assert im.format == {"png": "PNG", "webp": "WEBP", "jpg": "JPEG"}[extension]
    assert (im.mode, im.size) == (mode, (W, H))

    alpha8 = quantize_alpha(alpha)
    if output is OutputKind.RGBA:
        expected = np.dstack([foreground, alpha8])  # foreground is the colour when given
        expected[alpha8 == 0, :3] = 0  # invisible colour is cleared
    elif output is OutputKind.MASK:
        expected = alpha8 if mode == "L" else np.dstack([alpha8] * 3)
    else:
        expected = composite_reference(foreground, alpha8, (10, 200, 30))
    decoded = np.asarray(im)
    if (output, fmt) in LOSSLESS:
        np.testing.assert_array_equal(decoded, expected)
    else:
        assert np.abs(decoded.astype(int) - expected).mean() < 6


@pytest.mark.parametrize("fmt", list(ImageFormat))
def test_zip_holds_color_jpg_and_alpha_png_whatever_the_format(fmt: ImageFormat) -> None:
    rgb, alpha, foreground = _inputs()
    rendered = render(rgb, alpha, OutputOptions(output=OutputKind.ZIP, format=fmt), foreground=foreground)
    assert (rendered.media_type, rendered.extension) == ("application/zip", "zip")
    with zipfile.ZipFile(io.BytesIO(rendered.content)) as archive:
        assert archive.namelist() == ["color.jpg", "alpha.png"]
        color = _open(archive.read("color.jpg"))
        matte = _open(archive.read("alpha.png"))
    assert (color.format, color.mode, color.size) == ("JPEG", "RGB", (W, H))
    assert (matte.format, matte.mode, matte.size) == ("PNG", "L", (W, H))
    np.testing.assert_array_equal(np.asarray(matte), quantize_alpha(alpha))
    # The colour is the full frame (not cleared under alpha=0) and is the foreground estimate.
    assert np.abs(np.asarray(color).astype(int) - foreground).mean() < 6


def test_without_foreground_the_input_colour_is_used() -> None:
    rgb, alpha, _ = _inputs()
    rendered = render(rgb, alpha, OutputOptions(output=OutputKind.COMPOSITE))
    np.testing.assert_array_equal(
        np.asarray(_open(rendered.content)), composite_reference(rgb, quantize_alpha(alpha), (255, 255, 255))
    )


def test_rgba_jpeg_is_refused_by_the_options() -> None:
    with pytest.raises(ApiError) as caught:
        OutputOptions(output=OutputKind.RGBA, format=ImageFormat.JPEG)
    assert caught.value.kind is ErrorKind.INVALID_PARAMETER


def test_alpha_is_rounded_not_truncated() -> None:
    alpha = np.array([[0.0, 0.5 / 255 - 1e-4, 0.5 / 255 + 1e-4, 0.999, 1.0]], np.float32)
    assert quantize_alpha(alpha).tolist() == [[0, 0, 1, 255, 255]]


def test_out_of_range_and_nan_alpha_are_clipped() -> None:
    alpha = np.array([[-0.5, 1.5, np.nan, np.inf, -np.inf]], np.float32)
    assert quantize_alpha(alpha).tolist() == [[0, 255, 0, 255, 0]]


def test_composite_rounds_to_nearest_at_every_alpha() -> None:
    colour = np.array([[[255, 0, 100]]], np.uint8).repeat(256, axis=1)
    alpha = (np.arange(256, dtype=np.float32) / np.float32(255))[None, :]
    options = OutputOptions(output=OutputKind.COMPOSITE, bg_color=(0, 255, 7))
    rendered = np.asarray(_open(render(colour, alpha, options).content))
    exact = (colour * alpha[..., None] + np.array([0, 255, 7]) * (1 - alpha[..., None])).round()
    np.testing.assert_array_equal(rendered, exact)


@pytest.mark.parametrize(
    ("size", "options", "ok"),
    [
        ((16383, 1), OutputOptions(format=ImageFormat.WEBP), True),
        ((16384, 1), OutputOptions(format=ImageFormat.WEBP), False),
        ((1, 20000), OutputOptions(output=OutputKind.MASK, format=ImageFormat.WEBP), False),
        ((1, 20000), OutputOptions(format=ImageFormat.PNG), True),
        ((65500, 1), OutputOptions(output=OutputKind.COMPOSITE, format=ImageFormat.JPEG), True),
        ((65501, 1), OutputOptions(output=OutputKind.COMPOSITE, format=ImageFormat.JPEG), False),
        ((1, 65501), OutputOptions(output=OutputKind.ZIP, format=ImageFormat.PNG), False),
    ],
)
def test_container_side_limits(size: tuple[int, int], options: OutputOptions, ok: bool) -> None:
    if ok:
        check_renderable(*size, options)
        return
    with pytest.raises(ApiError) as caught:
        check_renderable(*size, options)
    assert caught.value.kind is ErrorKind.INVALID_PARAMETER
    assert "format=png" in caught.value.message


def test_render_refuses_what_check_renderable_refuses() -> None:
    rgb = np.zeros((1, 16384, 3), np.uint8)
    with pytest.raises(ApiError):
        render(rgb, np.zeros((1, 16384), np.float32), OutputOptions(format=ImageFormat.WEBP))


def test_a_1x20000_strip_renders_as_png() -> None:
    rgb = samples.gradient(1, 20000)
    alpha = np.linspace(0, 1, 20000, dtype=np.float32)[:, None]
    rendered = render(rgb, alpha, OutputOptions())
    assert _open(rendered.content).size == (1, 20000)


@pytest.mark.parametrize(
    ("rgb_shape", "alpha_shape", "fg_shape"),
    [((4, 5, 3), (5, 4), None), ((4, 5, 4), (4, 5), None), ((4, 5, 3), (4, 5), (5, 4, 3))],
)
def test_mismatched_inputs_are_a_caller_bug(
    rgb_shape: tuple[int, ...], alpha_shape: tuple[int, ...], fg_shape: tuple[int, ...] | None
) -> None:
    foreground = None if fg_shape is None else np.zeros(fg_shape, np.uint8)
    with pytest.raises(ValueError):
        render(
            np.zeros(rgb_shape, np.uint8),
            np.zeros(alpha_shape, np.float32),
            OutputOptions(),
            foreground=foreground,
        )


@pytest.mark.parametrize("channels", [3, 4])
def test_fast_and_pillow_png_writers_agree(channels: int) -> None:
    if not FAST_PNG_AVAILABLE:
        pytest.skip("fpng is not installed")
    pixels = np.random.default_rng(3).integers(0, 256, (61, 47, channels), dtype=np.uint8)
    image = Image.fromarray(pixels)
    fast, portable = encode_png(image), encode_png(image, fast=False)
    assert fast != portable  # really two different writers
    np.testing.assert_array_equal(np.asarray(_open(fast)), pixels)
    np.testing.assert_array_equal(np.asarray(_open(portable)), pixels)


def test_imaging_layer_imports_no_torch() -> None:
    # OpenCV is allowed since issue 17: the cut-out is built with it (5x Pillow's paste at 12 MP).
    loaded = modules_loaded_by("import service.imaging.decode, service.imaging.encode")
    assert "torch" not in loaded
