"""What one request may cost, judged from the image header before any pixel is decoded.

`max_pixels` alone ignores shape and output: a 40,000,000 x 1 PNG passes it, and with output=rgba
its foreground estimation pads box filters along the long side until OpenCV fails to allocate (RSS
went to 7.75 GB). So besides the pixel count, a request is refused when

- a side is longer than `max_side`, or the image is a strip: its long side more than
  `max_aspect_ratio` times its short side (short sides under `_SHORT_SIDE_FLOOR` count as that much,
  so small images of any shape stay fine: they cost nothing);
- its estimated working memory (`request_memory_bytes`, from width, height and the options asked
  for) is over the per-request cap.

All of these give IMAGE_TOO_LARGE (413) with a message that says which limit and what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.config import Settings
from service.errors import ApiError, ErrorKind
from service.imaging.options import OutputKind, OutputOptions, Refinement

_SHORT_SIDE_FLOOR = 64

# Peak bytes per pixel, measured as peak RSS growth of decode + matte post-processing + encode on
# 4 MP photos (ru_maxrss, fp32 alpha; see the report of issue 15): 22-25 B/px for the decode, alpha
# and output arrays; foreground estimation (decontaminate, every output but mask) adds ~75 B/px;
# trimap refinement ~15 B/px. Rounded up: an estimate that errs high refuses a little early.
_BASE_BYTES_PER_PIXEL = 26
_DECONTAMINATE_BYTES_PER_PIXEL = 78
_TRIMAP_BYTES_PER_PIXEL = 16
# Buffers that do not scale with the image (codec state, small temporaries).
_FIXED_BYTES = 16 * 1024 * 1024

_MIB = 1024 * 1024


def request_memory_bytes(width: int, height: int, options: OutputOptions) -> int:
    """Estimated peak working memory of one request for a width x height image (a pure function:
    the admission side can sum it over requests against a global budget)."""
    per_pixel = _BASE_BYTES_PER_PIXEL
    if options.decontaminate and options.output is not OutputKind.MASK:
        per_pixel += _DECONTAMINATE_BYTES_PER_PIXEL
    if options.refine is Refinement.TRIMAP:
        per_pixel += _TRIMAP_BYTES_PER_PIXEL
    return width * height * per_pixel + _FIXED_BYTES


@dataclass(frozen=True)
class DecodeLimits:
    """Header-level limits besides `max_pixels` (which `decode_image` takes on its own)."""

    max_side: int = 20_000
    max_aspect_ratio: float = 20.0
    max_jpeg_scans: int = 100
    max_jpeg_scan_pixels: int = 1_000_000_000
    max_request_bytes: int | None = None  # None: no memory cap
    options: OutputOptions | None = None  # what the request renders; None: no memory check


def decode_limits(settings: Settings, options: OutputOptions | None) -> DecodeLimits:
    """The limits one request decodes under. A request can never need more than the whole budget,
    so a global `memory_budget_mb` also caps the per-request cap."""
    cap_mb = settings.max_request_memory_mb
    if settings.memory_budget_mb:
        cap_mb = min(cap_mb, settings.memory_budget_mb)
    return DecodeLimits(
        max_side=settings.max_image_side,
        max_aspect_ratio=settings.max_aspect_ratio,
        max_jpeg_scans=settings.max_jpeg_scans,
        max_jpeg_scan_pixels=settings.max_jpeg_scan_pixels,
        max_request_bytes=cap_mb * _MIB,
        options=options,
    )


def check_shape_and_memory(width: int, height: int, limits: DecodeLimits) -> None:
    """Raise IMAGE_TOO_LARGE for a side, aspect ratio or memory estimate over its limit."""
    long_side, short_side = max(width, height), min(width, height)
    if long_side > limits.max_side:
        raise ApiError(
            ErrorKind.IMAGE_TOO_LARGE,
            f"the image is {width}x{height}; no side may be longer than {limits.max_side} pixels",
        )
    if long_side > limits.max_aspect_ratio * max(short_side, _SHORT_SIDE_FLOOR):
        raise ApiError(
            ErrorKind.IMAGE_TOO_LARGE,
            f"the image is {width}x{height}: the long side may be at most {limits.max_aspect_ratio:g} "
            "times the short side; crop the strip into pieces",
        )
    if limits.max_request_bytes is None or limits.options is None:
        return
    needed = request_memory_bytes(width, height, limits.options)
    if needed > limits.max_request_bytes:
        raise ApiError(
            ErrorKind.IMAGE_TOO_LARGE,
            f"a {width}x{height} image with output={limits.options.output.value} needs about "
            f"{needed / _MIB:,.0f} MiB; the limit is {limits.max_request_bytes / _MIB:,.0f} MiB per "
            "request (output=mask or decontaminate=false need less; or send a smaller image)",
        )
