"""The colour decontamination as it was before issue 17: every level computed densely over the soft
band's bounding box (`service.imaging.foreground` now runs its full-resolution level on the band's
tiles only). Kept as the reference the sparse version is tested against (tests/imaging) and timed
against (`python -m bench.decontamination_speed`); it uses the module's own helpers, so only the
restriction to the band differs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from service.imaging.foreground import _LOW_RES_RADIUS, _fuse, _local_means, _resize, level_radii


def estimate_foreground_dense(
    rgb: npt.NDArray[np.uint8], alpha: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    """Old `estimate_foreground`: also rewrites alpha-0 pixels of the crop with the extension."""
    h, w = alpha.shape
    out = rgb.copy()
    alpha = np.clip(np.asarray(alpha, dtype=np.float32), 0.0, 1.0)
    soft = (alpha > 0.0) & (alpha < 1.0)
    if not soft.any():
        return out
    radii = level_radii(h, w)
    ys, xs = np.nonzero(soft)
    margin = sum(radii) + 1
    y0, y1 = max(0, int(ys.min()) - margin), min(h, int(ys.max()) + margin + 1)
    x0, x1 = max(0, int(xs.min()) - margin), min(w, int(xs.max()) + margin + 1)
    image = rgb[y0:y1, x0:x1].astype(np.float32) * np.float32(1.0 / 255.0)
    a = alpha[y0:y1, x0:x1]
    full = a.shape
    fg, bg = image, image
    for radius in radii[:-1]:
        step = max(1, min(radius // _LOW_RES_RADIUS, *full))
        size = (max(1, full[0] // step), max(1, full[1] // step))
        image_s, a_s = _resize(image, size), _resize(a, size)
        mean_fg, mean_bg = _local_means(
            _resize(fg, size), _resize(bg, size), a_s, max(1, round(radius / step))
        )
        fg, bg = _fuse(image_s, a_s, mean_fg, mean_bg), mean_bg
    mean_fg, mean_bg = _local_means(_resize(fg, full), _resize(bg, full), a, radii[-1])
    fg = _fuse(image, a, mean_fg, mean_bg)
    estimated = np.rint(fg * 255.0).astype(np.uint8)
    crop = out[y0:y1, x0:x1]
    replace = a < 1.0
    crop[replace] = estimated[replace]
    return out
