"""remove.bg's `size`: a pixel budget for the RESULT (after cropping), and the size that meets it
(the resampling is in `service.imaging.finish`; this module stays free of OpenCV, being part of the
options that the encoder imports).

remove.bg's reference: "preview" (aliases "small", "regular") resizes to 0.25 megapixels (625 x 400),
"medium" to 1.5 MP, "hd" to 4 MP; "full" (alias "4k"), "50MP" and "auto" keep the original
resolution. remove.bg caps those at 25/50 MP; here the input is already bounded by
`BGREMOVE_MAX_PIXELS`, so they mean "no downscale". A result is never enlarged to meet a budget.
A number is a budget in pixels, bounded so that a typo is a 400 rather than a no-op.
"""

from __future__ import annotations

import math

from service.errors import ApiError, ErrorKind, shown

SIZE_PRESETS: dict[str, int | None] = {
    "preview": 250_000,
    "small": 250_000,
    "regular": 250_000,
    "medium": 1_500_000,
    "hd": 4_000_000,
    "full": None,
    "4k": None,
    "50mp": None,
    "auto": None,
}
MIN_BUDGET, MAX_BUDGET = 4_096, 50_000_000  # 64 x 64 .. remove.bg's largest (50 MP)


def parse_size(value: str | None, default: str = "full") -> int | None:
    """Preset name or a pixel count -> budget in pixels; None: keep the full resolution."""
    raw = (value if value is not None and value.strip() else default).strip().lower()
    if raw in SIZE_PRESETS:
        return SIZE_PRESETS[raw]
    if raw.isdigit() and len(raw) <= 12:
        budget = int(raw)
        if MIN_BUDGET <= budget <= MAX_BUDGET:
            return budget
    presets = ", ".join(SIZE_PRESETS)
    raise ApiError(
        ErrorKind.INVALID_PARAMETER,
        f"size must be one of {presets} or a pixel count from {MIN_BUDGET} to {MAX_BUDGET}; "
        f"got {shown(value or '')}",
    )


def fitted_size(width: int, height: int, budget: int | None) -> tuple[int, int]:
    """The largest (w, h) with the same aspect, w * h <= budget, never larger than the input."""
    if budget is None or width * height <= budget:
        return width, height
    factor = math.sqrt(budget / (width * height))
    w, h = max(1, math.floor(width * factor)), max(1, math.floor(height * factor))
    while w * h > budget:  # floating point may land one pixel over
        w, h = (w - 1, h) if w >= h else (w, h - 1)
    return w, h
