"""The request's output options: what the client asked for, validated once, before any work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from PIL import ImageColor

from service.errors import ApiError, ErrorKind, shown
from service.imaging.framing_options import NO_FRAMING, FramingOptions, parse_framing_options
from service.imaging.size_budget import parse_size


class OutputKind(StrEnum):
    RGBA = "rgba"  # transparent cut-out
    MASK = "mask"  # 8-bit alpha matte (grayscale)
    COMPOSITE = "composite"  # foreground over bg_color, no alpha
    ZIP = "zip"  # color.jpg + alpha.png, as remove.bg's ZIP format


class ImageFormat(StrEnum):
    PNG = "png"
    WEBP = "webp"
    JPEG = "jpeg"


class EngineChoice(StrEnum):
    AUTO = "auto"
    MODNET = "modnet"
    GRABCUT = "grabcut"


class Refinement(StrEnum):
    NONE = "none"
    TRIMAP = "trimap"


RGB = tuple[int, int, int]

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_hex_color(value: str) -> RGB:
    """'#ff8800', 'ff8800', 'f80' or a CSS colour name ('green', 'rebeccapurple') -> RGB."""
    match = _HEX.match(value.strip())
    if match is None:
        # Pillow's table is the CSS Color Module's named colours (remove.bg accepts names too).
        name = value.strip().lower()
        # By name, not by the table's value: Pillow's getrgb replaces a name's "#rrggbb" entry in
        # `colormap` with the converted tuple after its first use anywhere in the process.
        if name.isalpha() and name in ImageColor.colormap:
            red, green, blue = ImageColor.getrgb(name)[:3]
            return red, green, blue
        raise ApiError(
            ErrorKind.INVALID_PARAMETER,
            f"bg_color must be a hex colour like #ff8800 or a CSS colour name like green, got {shown(value)}",
        )
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


@dataclass(frozen=True)
class OutputOptions:
    output: OutputKind = OutputKind.RGBA
    format: ImageFormat = ImageFormat.PNG
    bg_color: RGB = (255, 255, 255)
    decontaminate: bool = True  # foreground colour estimation for rgba/composite/zip
    refine: Refinement = Refinement.NONE
    framing: FramingOptions = NO_FRAMING  # crop to subject, margins, scale, position, roi
    max_output_pixels: int | None = None  # `size`: the result is downscaled to fit; None: full size

    def __post_init__(self) -> None:
        # An RGBA cut-out has an alpha channel, which JPEG cannot carry.
        if self.output is OutputKind.RGBA and self.format is ImageFormat.JPEG:
            raise ApiError(
                ErrorKind.INVALID_PARAMETER,
                "format=jpeg cannot carry an alpha channel: use png or webp for output=rgba, "
                "or output=composite for a JPEG on a background colour",
            )


E = TypeVar("E", bound=StrEnum)


def parse_enum(enum: type[E], name: str, value: str) -> E:
    """Case-insensitive enum parsing with a 400 that lists the allowed values."""
    try:
        return enum(value.strip().lower())
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ApiError(
            ErrorKind.INVALID_PARAMETER, f"{name} must be one of: {allowed}; got {shown(value)}"
        ) from None


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ApiError(ErrorKind.INVALID_PARAMETER, f"{name} must be true or false, got {shown(value)}")


PARAMETERS = (
    *("output", "format", "bg_color", "engine", "refine", "decontaminate"),
    *("size", "crop", "crop_margin", "scale", "position", "roi"),
)
"""Every parameter `/remove-background` reads; anything else is a 400 (a typo like `outptu=mask`
would otherwise silently give the default output)."""


def check_known(params: dict[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(name for name in params if name not in known)
    if unknown:
        names = ", ".join(shown(name) for name in unknown[:3])
        raise ApiError(
            ErrorKind.INVALID_PARAMETER, f"unknown parameter {names}; accepted: {', '.join(known)}"
        )


def parse_options(params: dict[str, str]) -> tuple[EngineChoice, OutputOptions]:
    """Validate every parameter before any work is queued: a batch only ever holds good work."""
    check_known(params, PARAMETERS)
    engine = parse_enum(EngineChoice, "engine", params.get("engine", "auto"))
    options = OutputOptions(
        output=parse_enum(OutputKind, "output", params.get("output", "rgba")),
        format=parse_enum(ImageFormat, "format", params.get("format", "png")),
        bg_color=parse_hex_color(params.get("bg_color", "#ffffff")),
        decontaminate=parse_bool("decontaminate", params.get("decontaminate", "true")),
        refine=parse_enum(Refinement, "refine", params.get("refine", "none")),
        framing=parse_framing_options(
            crop=params.get("crop"),
            crop_margin=params.get("crop_margin"),
            scale=params.get("scale"),
            position=params.get("position"),
            roi=params.get("roi"),
        ),
        max_output_pixels=parse_size(params.get("size")),
    )
    return engine, options
