"""An image, its alpha matte and the request's `OutputOptions` -> the response body.

Outputs (the result always has the input's width and height):

- rgba:      colour + alpha. PNG (RGBA) or lossless WebP (RGBA). Colour is cleared to 0 where
             alpha is 0: invisible pixels would otherwise carry the whole removed background (anyone
             could recover it by dropping the alpha), and clearing them makes the file ~35 % smaller.
- mask:      the 8-bit matte. PNG and JPEG are grayscale ("L"); WebP has no grayscale mode, so a
             WebP mask decodes as RGB with R = G = B.
- composite: colour over `bg_color`, no alpha. PNG, WebP (lossy) or JPEG, all RGB.
- zip:       remove.bg's ZIP layout: `color.jpg` (the colour image, JPEG, full frame, not cleared)
             and `alpha.png` (8-bit grayscale matte). `format` is ignored for zip: the layout fixes
             the member formats, and clients (remove.bg SDKs) expect exactly these two names.

Containers have side limits (WebP 16383, JPEG 65500 px): `check_renderable` refuses such
combinations with INVALID_PARAMETER (400); `render` applies the same check.

"Colour" is `foreground` (the decontaminated colour estimate) when given, else the input `rgb`.
Alpha is quantised with rounding (`blend.quantize_alpha`) unless it comes as uint8; composites use
that same 8-bit alpha, so a composite equals the RGBA output flattened onto the background.

Encoder settings favour speed (every response is encoded on the CPU): PNG as `service.imaging.png`
writes it; lossless WebP at method 0 / effort 0 (higher efforts shrink it by ~45 % for 5-7x the
time); lossy WebP at quality 90, method 0; JPEG at quality 90, 4:2:0, baseline. The measurements
behind these choices are in docs/benchmarks.md ("Imaging").

`render` is a pure function of its arguments, safe to call from many threads (Pillow releases the
GIL while encoding; fpng holds it for at most a few tens of ms, see `png`).
"""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.contract import Alpha, RGBImage
from service.errors import ApiError, ErrorKind
from service.imaging.blend import U8, composite_over, cut_out, quantize_alpha
from service.imaging.options import ImageFormat, OutputKind, OutputOptions
from service.imaging.png import encode_png

JPEG_QUALITY = 90
WEBP_LOSSY_QUALITY = 90
WEBP_METHOD = 0  # fastest; see the measurements above
WEBP_LOSSLESS_EFFORT = 0  # Pillow's `quality` means effort when lossless=True

# Largest side each container can hold (WebP: 14-bit sizes; libjpeg: JPEG_MAX_DIMENSION).
MAX_SIDE = {ImageFormat.PNG: 2**31 - 1, ImageFormat.WEBP: 16383, ImageFormat.JPEG: 65500}
_MEDIA_TYPES = {ImageFormat.PNG: "image/png", ImageFormat.WEBP: "image/webp", ImageFormat.JPEG: "image/jpeg"}
_EXTENSIONS = {ImageFormat.PNG: "png", ImageFormat.WEBP: "webp", ImageFormat.JPEG: "jpg"}
ZIP_COLOR_NAME = "color.jpg"
ZIP_ALPHA_NAME = "alpha.png"


@dataclass(frozen=True)
class Rendered:
    content: bytes
    media_type: str  # e.g. "image/png", "application/zip"
    extension: str  # suggested file name extension, without the dot: "png", "webp", "jpg", "zip"


def check_renderable(width: int, height: int, options: OutputOptions) -> None:
    """Raise INVALID_PARAMETER if the chosen container cannot hold an image this size (e.g. a
    1 x 20000 strip as WebP). Cheap: call it right after decoding, before spending inference on it."""
    fmt = ImageFormat.JPEG if options.output is OutputKind.ZIP else options.format  # zip: color.jpg
    side = max(width, height)
    if side > MAX_SIDE[fmt]:
        is_zip = options.output is OutputKind.ZIP
        what = "output=zip (its color.jpg)" if is_zip else f"format={fmt.value}"
        instead = "output=rgba with format=png" if is_zip else "format=png"
        raise ApiError(
            ErrorKind.INVALID_PARAMETER,
            f"{what} holds at most {MAX_SIDE[fmt]} pixels per side; this image is {width}x{height}: "
            f"use {instead}",
        )


def render(
    rgb: RGBImage,
    alpha: Alpha | U8,
    options: OutputOptions,
    *,
    foreground: RGBImage | None = None,
    helper: Executor | None = None,
) -> Rendered:
    """Encode the requested output. Raises ValueError for mismatched shapes/dtypes (a caller bug,
    never a client error): the result must have exactly the input's size, so nothing is resized here.
    Raises ApiError(INVALID_PARAMETER) as `check_renderable` does. `helper`: an executor whose idle
    thread may share a big PNG's deflate (`png_isal`)."""
    _check_inputs(rgb, alpha, foreground)
    check_renderable(rgb.shape[1], rgb.shape[0], options)
    colour = rgb if foreground is None else foreground
    alpha8 = quantize_alpha(alpha)
    kind = options.output
    if kind is OutputKind.ZIP:
        return Rendered(_zip(Image.fromarray(colour), alpha8), "application/zip", "zip")
    fmt = options.format
    image: Image.Image | U8
    if kind is OutputKind.MASK:
        image = alpha8
    elif kind is OutputKind.COMPOSITE:
        image = composite_over(Image.fromarray(colour), Image.fromarray(alpha8), options.bg_color)
    elif kind is OutputKind.RGBA:
        if fmt is ImageFormat.JPEG:  # OutputOptions refuses this combination already
            raise ValueError("JPEG cannot carry an alpha channel")
        image = cut_out(colour, alpha8)  # colour cleared under alpha 0: see the module docstring
    else:  # pragma: no cover - a new OutputKind must be handled above
        raise ValueError(f"unknown output kind {kind!r}")
    return Rendered(_encode(image, fmt, helper), _MEDIA_TYPES[fmt], _EXTENSIONS[fmt])


def _check_inputs(rgb: RGBImage, alpha: Alpha | U8, foreground: RGBImage | None) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha {alpha.shape} does not match the image {rgb.shape[:2]}")
    if foreground is not None and (foreground.shape != rgb.shape or foreground.dtype != np.uint8):
        raise ValueError(f"foreground {foreground.shape} {foreground.dtype} does not match rgb {rgb.shape}")


def _encode(pixels: Image.Image | U8, fmt: ImageFormat, helper: Executor | None = None) -> bytes:
    """Arrays (a mask, a cut-out) go to the PNG writers as they are; Pillow gets an image."""
    if fmt is ImageFormat.PNG:
        return encode_png(pixels, helper=helper)
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    if fmt is ImageFormat.JPEG:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    elif image.mode == "RGB":  # composite: a photo, lossy is right
        image.save(buffer, "WEBP", quality=WEBP_LOSSY_QUALITY, method=WEBP_METHOD)
    else:  # rgba cut-out or mask: exact edges matter
        image.save(buffer, "WEBP", lossless=True, quality=WEBP_LOSSLESS_EFFORT, method=WEBP_METHOD)
    return buffer.getvalue()


def _zip(colour: Image.Image, matte: U8) -> bytes:
    color_jpg = io.BytesIO()
    colour.save(color_jpg, "JPEG", quality=JPEG_QUALITY)
    buffer = io.BytesIO()
    # Stored, not deflated: JPEG and PNG are compressed already, deflating again only costs time.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(ZIP_COLOR_NAME, color_jpg.getvalue())
        archive.writestr(ZIP_ALPHA_NAME, encode_png(matte))
    return buffer.getvalue()
