"""He et al.'s guided filter (ECCV 2010 / TPAMI 2013) in numpy + OpenCV box filters.

The output is locally a linear function of the guide image, so a blurry or blocky alpha filtered
with the photo as guide snaps to the photo's edges. Used for GrabCut's soft edges and for
`refine=trimap`. Everything is O(pixels) whatever the radius (box filters are running sums), and
`subsample` gives the "fast guided filter" (He & Sun 2015): coefficients at low resolution, applied
at full resolution, for 4K inputs.

Pure functions, float32 throughout; safe to call from several threads.
"""

from __future__ import annotations

from concurrent.futures import Executor

import cv2
import numpy as np
import numpy.typing as npt

from service.imaging.kernels import colour_moments, colour_slopes, guided_rows
from service.imaging.shared_work import for_each_shared

Float = npt.NDArray[np.float32]
Guide = npt.NDArray[np.uint8] | npt.NDArray[np.float32]


def _f32(x: object) -> Float:
    return np.asarray(x, dtype=np.float32)


def box_mean(x: Float, radius: int) -> Float:
    """Mean over a (2 radius + 1)² window, per channel, with the shape of `x` (OpenCV drops a
    trailing channel axis of 1). Reflected borders keep the mean unbiased at the image edge (zero
    padding would darken it)."""
    k = 2 * radius + 1
    return _f32(cv2.boxFilter(x, -1, (k, k), borderType=cv2.BORDER_REFLECT)).reshape(x.shape)


def _coefficients_gray(guide: Float, src: Float, radius: int, eps: float) -> tuple[Float, Float]:
    stacked = box_mean(np.dstack([guide, src, guide * guide, guide * src]), radius)
    mean_i, mean_p, mean_ii, mean_ip = (stacked[..., c] for c in range(4))
    var_i = mean_ii - mean_i * mean_i
    cov_ip = mean_ip - mean_i * mean_p
    # var_i >= 0, so the denominator >= eps, except where float32 rounding of a flat window's
    # variance went below zero: no slope there (see `_coefficients_color`).
    denominator = var_i + np.float32(eps)
    a = np.zeros_like(cov_ip)
    np.divide(cov_ip, denominator, out=a, where=denominator >= np.float32(eps / 2))
    return a, _f32(mean_p - a * mean_i)


# The colour fit's planes (`kernels.colour_moments`, `kernels.colour_slopes`), one per row, padded
# apart: a 320 x 544 float32 plane is exactly 170 pages, so unpadded planes fall into the same cache
# sets and a loop writing 13 of them at once ran 7x slower (6.3 vs 0.85 ms).
_PLANE_PAD = 272  # float32s: 1,088 bytes, no multiple of 4 KiB between planes


def _planes(count: int, size: int) -> Float:
    return np.empty((count, size + _PLANE_PAD), np.float32)[:, :size]


def _box_in_place(plane: Float, radius: int) -> None:
    k = 2 * radius + 1
    cv2.boxFilter(plane, -1, (k, k), dst=plane, borderType=cv2.BORDER_REFLECT)


def _colour_fit(guide: Float, src: Float, radius: int, eps: float) -> Float:
    """The linear model p = a . I + b of each (2 radius + 1)² window, as planes (4 x h*w): a_r, a_g,
    a_b, b, not yet averaged over the windows. Means are box passes over the products' planes."""
    height, width = src.shape
    moments = _planes(13, height * width)
    pixels = np.ascontiguousarray(guide, dtype=np.float32).reshape(-1, 3)
    colour_moments(pixels, np.ascontiguousarray(src, dtype=np.float32).reshape(-1), moments)
    for plane in moments:
        _box_in_place(plane.reshape(height, width), radius)
    fit = _planes(4, height * width)
    colour_slopes(moments, np.float32(eps), np.float32(eps**3 / 2), fit)
    return fit


def _coefficients_color(guide: Float, src: Float, radius: int, eps: float) -> tuple[Float, Float]:
    height, width = src.shape
    fit = _colour_fit(guide, src, radius, eps)
    a = np.stack([fit[c].reshape(height, width) for c in range(3)], axis=-1)
    return a, fit[3].reshape(height, width)


def _as_unit_float(x: Guide) -> Float:
    """uint8 images are read as value / 255, anything else as is."""
    if x.dtype == np.uint8:
        return _f32(x) * np.float32(1.0 / 255.0)
    return _f32(x)


def guided_filter(guide: Guide, src: Float, radius: int, eps: float, subsample: int = 1) -> Float:
    """Filter `src` (H x W) guided by `guide` (H x W grey or H x W x 3 colour).

    guide:     floats in [0, 1], or uint8 (read as value / 255; with `subsample` > 1 it is never
               converted whole, which keeps 40-megapixel photos within a few hundred MB).
    radius:    window radius in full-resolution pixels.
    eps:       regularisation; edges whose guide variance is well above eps are kept.
    subsample: > 1 computes the linear coefficients on an image that much smaller (fast guided
               filter); the result is still applied to the full-resolution guide.
    """
    src = _f32(src)
    if guide.shape[:2] != src.shape:
        raise ValueError(f"guide {guide.shape[:2]} and src {src.shape} differ in size")
    h, w = src.shape
    s = max(1, min(int(subsample), h, w))
    if s > 1:
        size = (max(1, w // s), max(1, h // s))
        g_small = _f32(cv2.resize(guide, size, interpolation=cv2.INTER_AREA))
        if guide.dtype == np.uint8:
            g_small *= np.float32(1.0 / 255.0)
        p_small = _f32(cv2.resize(src, size, interpolation=cv2.INTER_AREA))
        r_small = max(1, round(radius / s))
    else:
        g_small, p_small, r_small = _as_unit_float(guide), src, max(1, radius)
    coefficients = _coefficients_color if g_small.ndim == 3 else _coefficients_gray
    a, b = coefficients(g_small, p_small, r_small, eps)
    # Averaging the coefficients over the window is what makes the output smooth (the paper's step 3).
    mean_a = box_mean(a, r_small)
    out = box_mean(b, r_small)

    def full_size(x: Float) -> Float:
        return x if s == 1 else _f32(cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR))

    out = full_size(out)
    # q = mean_a . I + mean_b, one guide channel at a time: no full-size float copy of the guide.
    channels = [mean_a[..., c] for c in range(3)] if g_small.ndim == 3 else [mean_a]
    for c, a_c in enumerate(channels):
        guide_c = guide[..., c] if g_small.ndim == 3 else guide
        out += full_size(np.ascontiguousarray(a_c)) * _as_unit_float(guide_c)
    return out


def _window_coefficients(
    g_small: Float, src: Float, radius: int, eps: float, helper: Executor | None
) -> Float:
    """The window-averaged slopes (already divided by 255, for a uint8 photo) and offset, h x w x 4.

    Fitted in two row bands, one of them on an idle `helper` thread (`shared_work`: numpy and
    OpenCV release the GIL on whole arrays): 7.2 -> 5.2 ms at 320 x 544; 2.9-3.2 ms with the fit
    compiled (`kernels.colour_slopes`). Each band is fitted with 2 radius rows of its neighbour
    (the two box passes' reach), so its own rows get exactly the values of one fit over the whole
    matte."""
    height = src.shape[0]
    out = np.empty((*src.shape, 4), np.float32)
    halo = 2 * radius
    middle = height // 2
    bands = [(0, middle), (middle, height)] if helper is not None and middle > halo else [(0, height)]

    def fit(band: tuple[int, int]) -> None:
        start, end = band
        low, high = max(0, start - halo), min(height, end + halo)
        planes = _colour_fit(g_small[low:high], src[low:high], radius, eps)
        own = slice(start - low, end - low)
        # Coefficients are smooth (window means), so bilinear is the right way to bring them up.
        # The photo's 1/255 is folded into the slopes here, on the small copy.
        for channel, plane in enumerate(planes):
            averaged = plane.reshape(high - low, -1)
            _box_in_place(averaged, radius)
            scale = np.float32(1.0 / 255.0 if channel < 3 else 1.0)
            np.multiply(averaged[own], scale, out=out[start:end, :, channel])

    for_each_shared(bands, fit, helper)
    return out


# Rows per piece of the full-resolution pass (`kernels.guided_rows`): pieces an idle pool thread
# can take (`shared_work`), big enough that a piece's call costs nothing next to its work.
_ROWS_PER_PIECE = 64


def guided_upsample(
    guide: npt.NDArray[np.uint8],
    src_small: Float,
    radius: int,
    eps: float,
    guide_small: npt.NDArray[np.uint8] | None = None,
    helper: Executor | None = None,
) -> Float:
    """A low-resolution `src_small` (h x w, e.g. a network's matte) brought to the guide's full size
    (H x W x 3 uint8 photo) edge-aware: the guided filter's linear coefficients are fitted at the low
    resolution against the photo shrunk to it (`guide_small`, when the caller has it already), then
    applied to the full-resolution photo (the fast guided filter's upsampling, Wu et al. 2018's DGF
    without learning). Edges land where the photo's edges are, where bilinear upsampling smears
    them over the scale factor. `radius` is in low-res pixels. Unclipped (callers clip).

    Where the coefficients are flat (slope 0, offset equal to `src_small`: a matte that is 0 or 1
    all around) the result is exactly the bilinear upsampling, so the photo is read only where a
    pixel's bilinear taps touch the matte's soft band (~a fifth of a portrait). The full-resolution
    pass is compiled (`kernels.guided_rows`) and runs in row ranges, shared with an idle `helper`
    thread when there is one (`shared_work`)."""
    if guide.ndim != 3 or guide.shape[2] != 3 or guide.dtype != np.uint8:
        raise ValueError(f"the guide must be an H x W x 3 uint8 photo, got {guide.shape} {guide.dtype}")
    height, width = guide.shape[:2]
    small_h, small_w = src_small.shape
    if guide_small is None or guide_small.shape[:2] != (small_h, small_w):
        guide_small = np.asarray(cv2.resize(guide, (small_w, small_h), interpolation=cv2.INTER_AREA))
    g_small = _f32(guide_small) * np.float32(1.0 / 255.0)
    src = np.ascontiguousarray(src_small, dtype=np.float32)
    slopes_and_offset = _window_coefficients(g_small, src, radius, eps, helper)
    # Guided equals bilinear wherever the matte is constant within 2 radius (slope 0, offset = the
    # matte): only pixels with such a low-res pixel among their four taps need the photo.
    kernel = np.ones((4 * radius + 3, 4 * radius + 3), np.uint8)
    active = np.asarray(cv2.dilate(src, kernel) != cv2.erode(src, kernel))
    photo = np.ascontiguousarray(guide)
    # The bilinear upsampling everywhere first (one SIMD pass), the guided values where they differ.
    out = _f32(cv2.resize(src, (width, height), interpolation=cv2.INTER_LINEAR))

    def rows(start: int) -> None:
        end = min(height, start + _ROWS_PER_PIECE)
        guided_rows(photo, slopes_and_offset, active, start, end, out)

    for_each_shared(range(0, height, _ROWS_PER_PIECE), rows, helper)
    return out
