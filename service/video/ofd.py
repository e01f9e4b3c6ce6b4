"""MODNet's one-frame-delay (OFD) trick against flicker in video mattes (Ke et al., "MODNet",
AAAI 2022, section 3.4).

A matte often flickers for one frame where the picture hardly changes: a pixel that is foreground
at t-1 and t+1 is predicted as background at t. OFD fixes exactly that case, pixel-wise: where the
neighbours agree (|a[t-1] - a[t+1]| <= xi) and a[t] differs from both by more than xi, a[t] becomes
the neighbours' mean. Real motion is left alone: there the neighbours themselves differ. The price
is one frame of latency: frame t is only final once t+1 is known.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import numpy as np

from service.contract import Alpha

T = TypeVar("T")

# The paper's xi.
DEFAULT_THRESHOLD = 0.1


def one_frame_delay(
    previous: Alpha, current: Alpha, following: Alpha, threshold: float = DEFAULT_THRESHOLD
) -> Alpha:
    neighbours_agree = np.abs(previous - following) <= threshold
    current_stands_out = (np.abs(current - previous) > threshold) & (np.abs(current - following) > threshold)
    fix = neighbours_agree & current_stands_out
    mean = (previous + following) * np.float32(0.5)
    return np.where(fix, mean, current).astype(np.float32, copy=False)


class OfdFilter(Generic[T]):
    """Streaming OFD: push (item, alpha) in frame order, get back (item, filtered alpha) pairs one
    frame later; `flush` at the end returns the last one. Disabled, it passes each pair straight
    through (no delay). The neighbours used are the raw predictions, never already-filtered ones,
    so a correction cannot propagate."""

    def __init__(self, *, enabled: bool = True, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.enabled = enabled
        self.threshold = threshold
        self._previous: Alpha | None = None  # raw alpha of frame t-1
        self._current: tuple[T, Alpha] | None = None  # frame t, waiting for t+1

    def push(self, item: T, alpha: Alpha) -> list[tuple[T, Alpha]]:
        if not self.enabled:
            return [(item, alpha)]
        ready: list[tuple[T, Alpha]] = []
        if self._current is not None:
            current_item, current_alpha = self._current
            if self._previous is None:  # the first frame has no t-1: it passes unchanged
                ready.append((current_item, current_alpha))
            else:
                ready.append(
                    (current_item, one_frame_delay(self._previous, current_alpha, alpha, self.threshold))
                )
            self._previous = current_alpha
        self._current = (item, alpha)
        return ready

    def flush(self) -> list[tuple[T, Alpha]]:
        """The last frame has no t+1: it passes unchanged."""
        last, self._current, self._previous = self._current, None, None
        return [last] if last is not None else []
