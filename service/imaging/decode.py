"""Untrusted upload bytes -> an RGB array the engines can take, or an `ApiError`. Nothing else escapes.

Formats: JPEG (including MPO, the multi-picture JPEG many cameras write; reported as "JPEG"), PNG
(including APNG), GIF, WebP, BMP, TIFF, and the phone formats HEIF/HEIC (pi-heif: libheif with the
libde265 HEVC decoder) and AVIF (Pillow's own plugin). These are the still-image formats browsers,
phones and design tools produce. Recognised image types outside that list (JPEG 2000, JPEG XL, ICO,
PSD, PNM, SVG, EPS, PDF, ...) get
UNSUPPORTED_MEDIA_TYPE (415); bytes that match no known signature, or match an allowed one but do
not decode (empty, truncated, corrupt), get INVALID_IMAGE (400). The format is decided by magic
bytes (`service.imaging.sniff`) and only that format's Pillow plugin ever parses the bytes, so a
hostile file cannot steer us into another plugin's parser; the client's content type is not trusted.

Size: width*height must not exceed `max_pixels`, checked from the header before any pixel is
decoded (for WebP from our own header read, because libwebp allocates its canvas when Pillow opens
the file; for HEIF/AVIF from the `ispe` boxes, `heif_header`, because libheif/libavif apply limits of
their own while parsing). Pillow's `DecompressionBombWarning` is an error too (`pillow_safety`), so
`Image.MAX_IMAGE_PIXELS` (~89.5 MP) caps any larger `max_pixels`. Both give IMAGE_TOO_LARGE (413).
EXIF rotation does not change the pixel count, so the check is the same before and after it.
The same header size also meets the side, aspect-ratio and per-request memory limits of
`service.imaging.bounds`, and `service.imaging.prescan` walks JPEG markers and GIF blocks first for
bombs the size does not show (thousands of progressive scans, a tiny frame on a huge screen).

Pixels: animated GIF/WebP/APNG and multi-page TIFF give their first frame (frame 0 as Pillow
composes it); the mode conversions, including how an existing alpha is flattened (over white), are
in `service.imaging.to_rgb`. An embedded ICC profile is applied, giving sRGB (`service.imaging.srgb`:
Display P3 phone photos keep their saturation). EXIF orientation 1-8 is applied; an unreadable EXIF
block counts as orientation 1 rather than failing a photo that decodes fine. HEIF's own rotation and
mirror boxes (irot/imir) are applied by libheif, which then resets the EXIF orientation to 1; Pillow's
AVIF plugin reports them as the EXIF orientation instead: either way each is applied exactly once.

`decode_image` is a pure function: no shared state, safe to call from many threads at once (Pillow
releases the GIL while decoding).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.contract import RGBImage
from service.errors import ApiError, ErrorKind
from service.imaging.bounds import DecodeLimits, check_shape_and_memory
from service.imaging.heif_header import heif_declared_size
from service.imaging.jpeg_pixels import jpeg_pixels
from service.imaging.pillow_safety import pillow_pixel_ceiling
from service.imaging.prescan import prescan
from service.imaging.sniff import ALLOWED_MEDIA_TYPES, SNIFF_BYTES, sniff_media_type, webp_canvas_size
from service.imaging.srgb import to_srgb
from service.imaging.to_rgb import UnsupportedPixelMode, image_to_rgb

logger = logging.getLogger(__name__)

_ALLOWED_NAMES = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF, AVIF"
# Pillow format name -> what we report. The JPEG plugin returns MPO files as "MPO".
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")
_SOURCE_FORMATS = {name: name for name in _FORMATS} | {"MPO": "JPEG"}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, eq=False)  # eq would compare arrays element-wise: not a bool
class DecodedImage:
    rgb: RGBImage
    """H x W x 3 uint8, C-contiguous, RGB, EXIF orientation applied; a fresh, writable array."""
    source_format: str
    """The container: JPEG, PNG, GIF, WEBP, BMP, TIFF, HEIF or AVIF."""

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_image(data: bytes, *, max_pixels: int, limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode an uploaded image; raises `ApiError` (INVALID_IMAGE, UNSUPPORTED_MEDIA_TYPE,
    IMAGE_TOO_LARGE) and nothing else. `limits` (shape, JPEG scans, per-request memory: see
    `service.imaging.bounds`) default to `DecodeLimits()`, which has no memory cap."""
    limits = limits or DecodeLimits()
    if not data:
        raise ApiError(ErrorKind.INVALID_IMAGE, "the image is empty (0 bytes)")
    media_type = sniff_media_type(data[:SNIFF_BYTES])
    if media_type is None:
        raise ApiError(ErrorKind.INVALID_IMAGE, f"not a recognised image; send one of {_ALLOWED_NAMES}")
    plugin = ALLOWED_MEDIA_TYPES.get(media_type)
    if plugin is None:
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"{media_type} images are not supported; send one of {_ALLOWED_NAMES}",
        )
    if plugin == "WEBP" and (canvas := webp_canvas_size(data[:30])) is not None:
        _check_pixels(canvas, max_pixels, limits)
    if plugin in ("HEIF", "AVIF") and (declared := heif_declared_size(data)) is not None:
        _check_pixels(declared, max_pixels, limits)
    prescan(plugin, data, limits)  # scan and screen bombs, before Pillow parses anything
    try:
        return _decode_with(plugin, data, max_pixels, limits)
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(ErrorKind.IMAGE_TOO_LARGE, f"image refused as a decompression bomb: {exc}") from None
    except MemoryError:
        raise ApiError(ErrorKind.IMAGE_TOO_LARGE, "not enough memory to decode this image") from None
    except UnsupportedPixelMode as exc:
        raise ApiError(ErrorKind.UNSUPPORTED_MEDIA_TYPE, f"{exc}; convert the image to RGB") from None
    except Exception as exc:  # any parser failure on hostile bytes is the client's 400, not our 500
        logger.debug("undecodable %s upload", plugin, exc_info=True)
        reason = str(exc)[:200] or type(exc).__name__
        raise ApiError(
            ErrorKind.INVALID_IMAGE, f"the {plugin} image could not be decoded: {reason}"
        ) from None


def _decode_with(plugin: str, data: bytes, max_pixels: int, limits: DecodeLimits) -> DecodedImage:
    with Image.open(io.BytesIO(data), formats=[plugin]) as im:
        source_format = _SOURCE_FORMATS.get(im.format or "")
        if source_format is None:  # cannot happen with formats=[plugin]; keep the allow-list a fact
            raise ApiError(ErrorKind.UNSUPPORTED_MEDIA_TYPE, f"{im.format} images are not supported")
        _check_pixels(im.size, max_pixels, limits)  # header only so far: no pixels decoded yet
        rgb = jpeg_pixels(data, im)  # None unless OpenCV gives Pillow's pixels faster (a plain JPEG)
        if rgb is None:
            rgb = image_to_rgb(to_srgb(im))  # frame 0
        orientation = _exif_orientation(im)
    return DecodedImage(rgb=_orient(rgb, orientation), source_format=source_format)


def _check_pixels(size: tuple[int, int], max_pixels: int, limits: DecodeLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ApiError(ErrorKind.INVALID_IMAGE, f"the image header gives an empty size {width}x{height}")
    pixels = width * height
    limit = max_pixels
    ceiling = pillow_pixel_ceiling()
    if ceiling is not None:
        limit = min(limit, ceiling)
    if pixels > limit:
        raise ApiError(
            ErrorKind.IMAGE_TOO_LARGE,
            f"the image is {width}x{height} = {pixels} pixels; the limit is {limit} pixels",
        )
    check_shape_and_memory(width, height, limits)


def _exif_orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # malformed EXIF: keep the pixels as stored (see module docstring)
        logger.debug("unreadable EXIF ignored", exc_info=True)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(rgb: RGBImage, orientation: int) -> RGBImage:
    """Apply EXIF orientation (same results as PIL.ImageOps.exif_transpose, on the array)."""
    if orientation == 1:
        return rgb
    views = {
        2: lambda a: a[:, ::-1],  # mirrored horizontally
        3: lambda a: a[::-1, ::-1],  # rotated 180
        4: lambda a: a[::-1],  # mirrored vertically
        5: lambda a: a.transpose(1, 0, 2),  # transposed (mirror + rotate 90 CW)
        6: lambda a: np.rot90(a, -1),  # rotate 90 CW to display
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # transversed
        8: lambda a: np.rot90(a, 1),  # rotate 90 CCW to display
    }
    return np.ascontiguousarray(views[orientation](rgb))
