"""Synthetic composites with known foreground, background and alpha, for the edge-quality tests."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Scene:
    image: npt.NDArray[np.uint8]  # round(alpha F + (1 - alpha) B)
    fg: Float  # H x W x 3, 0..255
    bg: Float
    alpha: Float  # H x W, 0..1


def _fields(h: int, w: int, seed: int) -> tuple[Float, Float]:
    """A warm foreground and a cold background, both varying smoothly, plus fine texture. Defined
    relative to the image size, so a 4K scene is the 1080p scene with more pixels, as in a photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) * np.float32(500.0 / min(h, w))
    grain = max(1.0, 2.0 * min(h, w) / 500.0)
    texture = cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), grain) * 60 - 30
    fg = np.dstack([200 + 40 * np.sin(xx / 37), 110 + 50 * np.cos(yy / 29), 70 + 30 * np.sin((xx + yy) / 51)])
    bg = np.dstack([40 + 30 * np.cos(yy / 23), 160 + 50 * np.sin(xx / 41), 200 - 30 * np.cos((xx - yy) / 33)])
    return np.clip(fg + texture, 0, 255).astype(np.float32), np.clip(bg - texture, 0, 255).astype(np.float32)


def portrait(h: int, w: int, edge_width: float, seed: int = 0) -> Scene:
    """A head-like blob with a wavy outline ("hair") whose alpha ramps over `edge_width` pixels."""
    fg, bg = _fields(h, w, seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = np.arctan2(yy - 0.55 * h, xx - 0.5 * w)
    dist = np.hypot((yy - 0.55 * h) / 1.2, xx - 0.5 * w) + 0.03 * min(h, w) * np.sin(7 * angle)
    alpha = np.clip((0.3 * min(h, w) - dist) / edge_width + 0.5, 0.0, 1.0).astype(np.float32)
    a = alpha[..., None]
    image = np.clip(np.rint(a * fg + (1 - a) * bg), 0, 255).astype(np.uint8)
    return Scene(image, fg, bg, alpha)


def predicted_at_low_resolution(alpha: Float, net_short_side: int = 512) -> Float:
    """What a network run at `net_short_side` returns once scaled back up: the right shape with
    edges blurred by the resolution loss (and a little smoothing of its own)."""
    h, w = alpha.shape
    s = net_short_side / min(h, w)
    small = cv2.resize(alpha, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float32)
