"""Alpha levels for the exported weights: where the network's output sits on sure background and
sure foreground, so that the service can stretch those levels to exact 0 and 1.

Why: after a short training run MODNet's sigmoid output rests at about 1-5/255 on background and
230-254/255 on the person (measured on the CPU-trained weights: 55-76 % of a photo's pixels in
1..5). Shipped as is, every cut-out carries a faint ghost of the old background, and a solid body
is a few percent see-through. A linear stretch keeps the soft transitions (hair) and makes the
rest exact.

How: on the training photos that have a remove.bg mask (never the validation split), `lo` is the
90th percentile of the network's alpha where the label is exactly 0, `hi` the 10th percentile
where it is exactly 1: nine in ten sure pixels become exact. Percentiles rather than a fit that
minimises error against the labels, because those labels are mostly hard and such a fit just
hardens the whole matte (it drifts to the edge of any search grid).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from model.training.label_store import LabelledPhoto

SURE_FRACTION = 0.9  # share of sure-background / sure-foreground pixels that become exact 0 / 1
MAX_SAMPLES_PER_PHOTO = 20_000  # pixels drawn per photo and class: keeps big photos from dominating

AlphaOf = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]]


def fit_alpha_levels(
    alpha_of: AlphaOf, photos: Iterable[LabelledPhoto], seed: int = 0
) -> tuple[float, float]:
    """(lo, hi) from the network's alpha (`alpha_of(image)`) on `photos` with masks."""
    rng = np.random.default_rng(seed)
    background: list[npt.NDArray[np.float32]] = []
    foreground: list[npt.NDArray[np.float32]] = []
    for photo in photos:
        if photo.mask is None:
            continue
        alpha = alpha_of(photo.image)
        if not np.isfinite(alpha).all():  # NaN made the quantiles NaN and the fit silently (0, 1)
            raise ValueError(f"non-finite alpha on {photo.photo.key}: the levels cannot be fitted")
        for values, into in (
            (alpha[photo.alpha <= 0.0], background),
            (alpha[photo.alpha >= 1.0], foreground),
        ):
            if values.size > MAX_SAMPLES_PER_PHOTO:
                values = rng.choice(values, MAX_SAMPLES_PER_PHOTO, replace=False)
            into.append(values)
    if not background or not foreground:
        raise ValueError("fitting alpha levels needs photos with masks, with both sure classes")
    lo = float(np.quantile(np.concatenate(background), SURE_FRACTION))
    hi = float(np.quantile(np.concatenate(foreground), 1.0 - SURE_FRACTION))
    if not 0.0 <= lo < hi <= 1.0 or hi - lo < 0.5:
        # A network this unsure is not worth stretching: keep its output as it is.
        return 0.0, 1.0
    return round(lo, 4), round(hi, 4)
