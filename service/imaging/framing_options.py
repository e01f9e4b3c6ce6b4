"""remove.bg's framing parameters (roi, crop, crop_margin, scale, position) as typed options, parsed
from query/form strings with a 400 that names the bad parameter. What they mean: `service.imaging.crop`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from service.errors import ApiError, ErrorKind, shown

ALPHA_THRESHOLD = 10
"""alpha > this (of 255) is subject for the bounding box: above matting noise, below real hair."""
MAX_MARGIN_PERCENT = 50.0
MAX_MARGIN_PX = 500
MIN_SCALE, MAX_SCALE = 0.10, 1.00
_MAX_PARAMETER_CHARS = 100  # longest legitimate value is ~30 characters
_MAX_PX = 1_000_000  # beyond any image we accept; keeps the arithmetic in range

_LENGTH = re.compile(r"(\d+(?:\.\d+)?)(px|%)")


@dataclass(frozen=True)
class Length:
    value: float
    unit: Literal["px", "%"]

    def resolve(self, reference: int) -> float:
        """Pixels; a percentage is of `reference`."""
        return self.value if self.unit == "px" else self.value / 100.0 * reference


@dataclass(frozen=True)
class Box:
    """Pixel rectangle; right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True)
class Margins:
    top: Length
    right: Length
    bottom: Length
    left: Length

    def resolve(self, subject: Box) -> tuple[int, int, int, int]:
        """(top, right, bottom, left) in whole pixels, each clamped to remove.bg's maximum."""

        def side(length: Length, reference: int) -> int:
            if length.unit == "%":
                length = Length(min(length.value, MAX_MARGIN_PERCENT), "%")
                return round(length.resolve(reference))
            return round(min(length.value, MAX_MARGIN_PX))

        return (
            side(self.top, subject.height),
            side(self.right, subject.width),
            side(self.bottom, subject.height),
            side(self.left, subject.width),
        )


NO_MARGIN = Margins(*(Length(0.0, "px"),) * 4)


@dataclass(frozen=True)
class RegionOfInterest:
    x1: Length
    y1: Length
    x2: Length
    y2: Length

    def to_box(self, width: int, height: int) -> Box:
        """The region in pixels, clipped to the image (it may be empty)."""

        def clip(value: float, limit: int) -> int:
            return min(max(math.floor(value + 0.5), 0), limit)  # half up: 50% of 275 -> 138

        return Box(
            clip(self.x1.resolve(width), width),
            clip(self.y1.resolve(height), height),
            clip(self.x2.resolve(width), width),
            clip(self.y2.resolve(height), height),
        )


Position = Literal["original"] | tuple[float, float]
CENTER: Position = (0.5, 0.5)


@dataclass(frozen=True)
class FramingOptions:
    crop: bool = False
    crop_margin: Margins = NO_MARGIN
    scale: float | None = None
    """Fraction of the canvas (0.1..1.0) the subject fills; None: "original" (not resized)."""
    position: Position | None = None
    """None: remove.bg's default, "original" unless a scale is given (then centre)."""
    roi: RegionOfInterest | None = None

    @property
    def effective_position(self) -> Position:
        if self.position is not None:
            return self.position
        return CENTER if self.scale is not None else "original"

    @property
    def changes_nothing(self) -> bool:
        return not self.crop and self.scale is None and self.effective_position == "original" and not self.roi


NO_FRAMING = FramingOptions()


def _invalid(name: str, expected: str, value: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_PARAMETER, f"{name} must be {expected}, got {shown(value)}")


def _lengths(name: str, value: str, counts: tuple[int, ...], expected: str) -> list[Length]:
    if len(value) > _MAX_PARAMETER_CHARS:
        raise _invalid(name, expected, value)
    tokens = value.strip().lower().split()
    if len(tokens) not in counts:
        raise _invalid(name, expected, value)
    lengths = []
    for token in tokens:
        match = _LENGTH.fullmatch(token)
        if match is None or float(match[1]) > _MAX_PX:
            raise _invalid(name, expected, value)
        lengths.append(Length(float(match[1]), "px" if match[2] == "px" else "%"))
    return lengths


def parse_crop(value: str | bool | None) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    normalized = value.strip().lower()
    if normalized in ("true", "1", "yes", "on"):
        return True
    if normalized in ("false", "0", "no", "off", ""):
        return False
    raise _invalid("crop", "true or false", value)


def parse_crop_margin(value: str | None) -> Margins:
    if value is None or not value.strip():
        return NO_MARGIN
    expected = "1, 2 or 4 lengths in px or % (e.g. '30px', '10%', '5% 20px', '10px 0px 10px 0px')"
    lengths = _lengths("crop_margin", value, (1, 2, 4), expected)
    if len(lengths) == 1:
        return Margins(lengths[0], lengths[0], lengths[0], lengths[0])
    if len(lengths) == 2:
        vertical, horizontal = lengths
        return Margins(vertical, horizontal, vertical, horizontal)
    return Margins(*lengths)


def parse_scale(value: str | None) -> float | None:
    if value is None or value.strip().lower() in ("", "original"):
        return None
    expected = "'original' or a percentage from 10% to 100%"
    (length,) = _lengths("scale", value, (1,), expected)
    if length.unit != "%" or not MIN_SCALE * 100 <= length.value <= MAX_SCALE * 100:
        raise _invalid("scale", expected, value)
    return length.value / 100.0


def parse_position(value: str | None) -> Position | None:
    if value is None or not value.strip():
        return None
    normalized = value.strip().lower()
    if normalized == "original":
        return "original"
    if normalized == "center":
        return CENTER
    expected = "'original', 'center', or one or two percentages from 0% to 100% ('50%', '0% 100%')"
    lengths = _lengths("position", value, (1, 2), expected)
    if any(length.unit != "%" or length.value > 100 for length in lengths):
        raise _invalid("position", expected, value)
    horizontal, vertical = lengths[0], lengths[-1]
    return horizontal.value / 100.0, vertical.value / 100.0


def parse_roi(value: str | None) -> RegionOfInterest | None:
    if value is None or not value.strip():
        return None
    expected = "four lengths 'x1 y1 x2 y2' in px or % with x1 < x2 and y1 < y2 (e.g. '0% 0% 50% 100%')"
    x1, y1, x2, y2 = _lengths("roi", value, (4,), expected)
    for low, high in ((x1, x2), (y1, y2)):
        if low.unit == high.unit and low.value >= high.value:
            raise _invalid("roi", expected, value)
        if any(length.unit == "%" and length.value > 100 for length in (low, high)):
            raise _invalid("roi", expected, value)
    return RegionOfInterest(x1, y1, x2, y2)


def parse_framing_options(
    *,
    crop: str | bool | None = None,
    crop_margin: str | None = None,
    scale: str | None = None,
    position: str | None = None,
    roi: str | None = None,
) -> FramingOptions:
    """remove.bg's parameter strings -> options; ApiError(INVALID_PARAMETER) naming the bad one."""
    return FramingOptions(
        crop=parse_crop(crop),
        crop_margin=parse_crop_margin(crop_margin),
        scale=parse_scale(scale),
        position=parse_position(position),
        roi=parse_roi(roi),
    )
