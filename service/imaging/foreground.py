"""Foreground colour estimation ("colour decontamination") for cut-outs.

A pixel on a soft edge is a mix I = alpha F + (1 - alpha) B. Shipping I with that alpha pastes the old
background B into the cut-out (a halo of wall colour round the hair). We estimate F with the
multi-level blur-fusion estimator of Forte & Pitié, "Approximate Fast Foreground Colour Estimation"
(ICIP 2021): local means of F and B are taken with box blurs weighted by alpha and 1 - alpha, then
I's residual is given back to F in proportion to alpha. Levels go from wide to narrow, each
starting from the previous one's F and B: the wide ones reach across broad soft bands, the last
(narrow, full-resolution) one keeps the detail of hair.

On synthetic composites with a known F (tests/imaging/test_foreground.py) the colour error in the
soft band is 0.1-0.25x that of the raw image (the test asserts < 0.5x).

Cost: a handful of box filters, O(pixels) whatever the radius. The photo is read at full resolution
once for the wide levels (a uint8 area shrink), which then run on small copies; the last level takes
its local means at a third of the resolution (at 1080p; `_narrow_step`) and fuses them with the
photo at full resolution at the band's pixels only (one compiled pass, `kernels.fuse_rows`), the
band being where the output alpha byte is neither 0 nor 255 (`soft_band`). On real 1080p portraits
that was ~40-50 ms of CPU with means at half resolution, about a quarter of the dense computation in
the same run, with no larger colour error on the synthetic scenes (0.97-1.0x; `python -m
bench.decontamination_speed`, docs/benchmarks.md); compiled, the fuse took the whole from 26-31 to
18-19 ms. Its rows can be shared with an idle thread (`helper`). Pure function, safe to call from
several threads.
"""

from __future__ import annotations

from concurrent.futures import Executor

import cv2
import numpy as np
import numpy.typing as npt

from service.imaging.blend import U8, quantize_alpha
from service.imaging.guided_filter import box_mean
from service.imaging.kernels import fuse_rows
from service.imaging.shared_work import for_each_shared

_EPS = np.float32(1e-5)
# The paper's reference radii are 90 then 6; a middle level (30) lowered the error further on our
# synthetic test (about 0.12 -> 0.08 of the raw image's error) and is cheap on a shrunk copy. Radii
# are for a 1024-pixel longer side and scale with the image, so 4K gets the reach 1080p gets.
_LEVELS_AT_1024 = (90, 30, 6)
# Each wide level runs on a copy shrunk so that its box is at most about this radius: they only
# contribute smooth local means (the last level's are taken at low resolution too, `_narrow_step`).
_LOW_RES_RADIUS = 8
# The narrow level's local means are taken at 1/_NARROW_STEP resolution (see `_narrow_level`), or
# lower where the box would be wider than _NARROW_LOW_RES_RADIUS there. On the synthetic portraits
# (tests/imaging/matting_scenes.py) the colour error stayed the same (0.076-0.127 of the raw image's
# at 1080p, 0.079-0.099 at 12 MP) while the whole estimate went from 20 to 14-17 ms at 1080p (step 3
# instead of 2) and from 144-187 to 79-96 ms at 12 MP (step 6).
_NARROW_STEP = 2
_NARROW_LOW_RES_RADIUS = 4
# Rows per piece of the last level's compiled fuse: pieces an idle pool thread can take.
_ROWS_PER_PIECE = 64
_INV_255 = np.float32(1.0 / 255.0)

Float = npt.NDArray[np.float32]


def _resize(x: Float, size: tuple[int, int]) -> Float:
    """To (height, width); area-averaging down, bilinear up."""
    h, w = size
    if x.shape[:2] == (h, w):
        return x
    shrinking = h * w < x.shape[0] * x.shape[1]
    out = cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.float32).reshape((h, w, *x.shape[2:]))


def _local_means(fg: Float, bg: Float, alpha: Float, radius: int) -> tuple[Float, Float]:
    """Alpha-weighted local means of F and of B (Forte & Pitié, eq. 4-5). OpenCV's element-wise ops
    on same-shaped arrays are SIMD; numpy's broadcasting of one channel over three was 3x slower."""
    a3 = _three(alpha)
    blurred = box_mean(alpha, radius)
    mean_fg = cv2.divide(box_mean(_f32(cv2.multiply(fg, a3)), radius), _three(blurred + _EPS))
    bg_weighted = cv2.subtract(bg, cv2.multiply(bg, a3))  # B (1 - alpha)
    mean_bg = cv2.divide(box_mean(_f32(bg_weighted), radius), _three((np.float32(1.0) - blurred) + _EPS))
    return _f32(mean_fg).reshape(fg.shape), _f32(mean_bg).reshape(bg.shape)


def _three(x: Float) -> Float:
    """One channel -> the same values in three (OpenCV's element-wise ops want equal channels)."""
    return _f32(cv2.merge([x, x, x])).reshape(*x.shape, 3)


def _fuse(image: Float, alpha: Float, mean_fg: Float, mean_bg: Float) -> Float:
    """F = mean F + alpha (I - alpha mean F - (1 - alpha) mean B): the compositing equation's
    residual goes back into F in proportion to alpha (eq. 6), clipped to valid colours."""
    a = alpha[..., None]
    fg = mean_fg + a * (image - a * mean_fg - (1.0 - a) * mean_bg)
    return np.clip(fg, 0.0, 1.0, out=fg)


def level_radii(height: int, width: int) -> tuple[int, ...]:
    """Blur radii for an image of this size, coarse to fine, never below 1 pixel."""
    scale = max(height, width) / 1024.0
    return tuple(max(1, round(r * scale)) for r in _LEVELS_AT_1024)


def soft_band(alpha: Float | U8) -> npt.NDArray[np.bool_]:
    """Pixels whose *output* alpha byte is strictly between 0 and 255 (the service's rounding,
    `quantize_alpha`): only there is the colour a visible mix. A pixel whose alpha rounds to 255 is
    shown opaque, where the input colour is within half a level of F, and one that rounds to 0 is
    invisible; a guided-upsampled matte has many such near-0/near-1 values (a sixth of the band
    on real 1080p portraits), which the estimator would otherwise spend time on."""
    alpha8 = quantize_alpha(alpha)
    return (alpha8 > 0) & (alpha8 < 255)


def estimate_foreground(rgb: U8, alpha: Float | U8, helper: Executor | None = None) -> U8:
    """Foreground colours F (H x W x 3 uint8) for `rgb` (H x W x 3 uint8) under `alpha` (H x W,
    float 0..1, or the output's uint8 alpha, which the pipeline passes so that it quantises once).

    The estimate works with the alpha the output carries (the quantised one): F is the colour that,
    shown with that alpha, gives back the photo. Only the soft band (`soft_band`) changes: pixels
    shown opaque keep their exact input bytes (the estimator gives the same value there, up to
    rounding), and so do invisible ones (cut-outs clear them, composites take the background there).
    Cost: see the module docstring; the wide levels run on shrunk copies of the band's bounding box
    plus their reach, the last level's fuse only at band pixels, in row ranges shared with an idle
    `helper` thread when there is one (`shared_work`).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or alpha.shape != rgb.shape[:2]:
        raise ValueError(f"need H x W x 3 rgb and H x W alpha, got {rgb.shape} and {alpha.shape}")
    h, w = alpha.shape
    out = rgb.copy()
    alpha8 = quantize_alpha(alpha)  # clips on the way: NaN or out-of-range values count as 0 or 1
    soft = soft_band(alpha8)
    if not soft.any():
        return out  # a hard matte has no mixed pixels: the input colours are already foreground
    radii = level_radii(h, w)
    # Crop to the soft band's bounding box plus the reach of all levels (each level blurs the
    # previous one's output): pixels farther away cannot influence the estimate inside the band.
    ys, xs = np.nonzero(soft.any(axis=1))[0], np.nonzero(soft.any(axis=0))[0]
    margin = sum(radii) + 1
    y0, y1 = max(0, int(ys[0]) - margin), min(h, int(ys[-1]) + margin + 1)
    x0, x1 = max(0, int(xs[0]) - margin), min(w, int(xs[-1]) + margin + 1)
    crop = np.s_[y0:y1, x0:x1]
    a = np.multiply(alpha8[crop], _INV_255, dtype=np.float32)  # only the crop is read from here on
    low = _wide_levels(rgb[crop], a, radii[:-1])
    _narrow_level(rgb[crop], a, alpha8[crop], low, radii[-1], out[crop], helper)
    return out


def _wide_levels(rgb: npt.NDArray[np.uint8], a: Float, radii: tuple[int, ...]) -> tuple[Float, Float]:
    """The coarse levels, each on a copy shrunk so its box is about `_LOW_RES_RADIUS`; returns F and
    B at the finest wide level's resolution (the crop's own when there is no wide level).

    The photo is read at full resolution once: the uint8 crop (trimmed to a multiple of the finest
    level's step, so OpenCV's integer-factor area path applies) and alpha are shrunk by that step,
    and the coarser levels shrink that copy. The trimmed rows and columns (fewer than one step) take
    the nearest estimate when upsampled."""
    full = a.shape
    if not radii:
        image = np.multiply(rgb, _INV_255, dtype=np.float32)
        return image, image
    steps = [max(1, min(radius // _LOW_RES_RADIUS, *full)) for radius in radii]
    base = min(steps)
    bh, bw = full[0] // base, full[1] // base
    trimmed = np.s_[: bh * base, : bw * base]
    image_b = _resize_u8(rgb[trimmed], (bh, bw))
    a_b = _resize(np.ascontiguousarray(a[trimmed]), (bh, bw))
    fg, bg = image_b, image_b
    for radius, step in zip(radii, steps, strict=True):
        size = (max(1, full[0] // step), max(1, full[1] // step))
        image_s, a_s = _resize(image_b, size), _resize(a_b, size)
        # On the first level F and B are the image itself: reuse its shrunk copy (the same values).
        fg_s = image_s if fg is image_b else _resize(fg, size)
        bg_s = image_s if bg is image_b else _resize(bg, size)
        mean_fg, mean_bg = _local_means(fg_s, bg_s, a_s, max(1, round(radius / step)))
        fg, bg = _fuse(image_s, a_s, mean_fg, mean_bg), mean_bg
    return fg, bg  # the last level is the finest: its size is the trimmed copy's


def _resize_u8(rgb: npt.NDArray[np.uint8], size: tuple[int, int]) -> Float:
    """uint8 image -> area-averaged float copy in 0..1 at (height, width). Averaging the bytes reads
    a quarter of what a float32 copy would (and makes none); the means round to whole levels, half a
    level at most, which the wide levels' smooth local means do not see."""
    h, w = size
    small = rgb if rgb.shape[:2] == (h, w) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return np.multiply(small, _INV_255, dtype=np.float32)


def _narrow_level(
    rgb: npt.NDArray[np.uint8],
    a: Float,
    alpha8: U8,
    low: tuple[Float, Float],
    radius: int,
    out: npt.NDArray[np.uint8],
    helper: Executor | None = None,
) -> None:
    """The last (narrow) level, written into `out` at the soft pixels only.

    Its local means are box means over (2 radius + 1)² windows, smooth by construction: they are
    taken on the crop shrunk `_narrow_step` times (radius likewise), which removed the
    full-resolution box filters, two thirds of the cost. The fuse, where the detail of hair comes
    from (alpha and the photo, per pixel), stays at full resolution: one compiled pass
    (`kernels.fuse_rows`) samples the means bilinearly at each soft pixel, in row ranges an idle
    pool thread may share.
    """
    h, w = a.shape
    step = _narrow_step(radius, (h, w))
    hh, ww = h // step, w // step
    a_s = _resize(np.ascontiguousarray(a[: hh * step, : ww * step]), (hh, ww))
    fg_s, bg_s = (_resize(x, (hh, ww)) for x in low)
    mean_fg, mean_bg = _local_means(fg_s, bg_s, a_s, max(1, round(radius / step)))

    def rows(start: int) -> None:  # `out` may be a view into the whole photo: rows are disjoint
        fuse_rows(rgb, alpha8, mean_fg, mean_bg, step, start, min(h, start + _ROWS_PER_PIECE), out)

    for_each_shared(range(0, h, _ROWS_PER_PIECE), rows, helper)


def _narrow_step(radius: int, shape: tuple[int, int]) -> int:
    """How many times the narrow level's local means are shrunk: `_NARROW_STEP`, more on big photos
    so that the box's radius there is at most `_NARROW_LOW_RES_RADIUS` (1 on tiny crops and radii)."""
    step = max(_NARROW_STEP, -(-radius // _NARROW_LOW_RES_RADIUS))
    return step if min(shape) >= 2 * step and radius >= step else 1


def _f32(x: object) -> Float:
    return np.asarray(x, dtype=np.float32)
