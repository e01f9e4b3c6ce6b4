"""Backgrounds for compositing: other photos' background regions, gradients, textures, clutter.

Each kind covers a failure seen in portrait matting: real scenes (photo regions), studio sweeps
(solid and gradients), busy high-frequency surroundings (textures, clutter) where a network that
learnt "person = the detailed part" would fail.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]


def _colour(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    return rng.uniform(0, 255, 3).astype(np.float32)


def solid(rng: np.random.Generator, height: int, width: int) -> U8:
    return np.broadcast_to(_colour(rng).astype(np.uint8), (height, width, 3)).copy()


def gradient(rng: np.random.Generator, height: int, width: int) -> U8:
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs * np.cos(angle) / max(width, 1) + ys * np.sin(angle) / max(height, 1)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    out = _colour(rng) * (1 - t[..., None]) + _colour(rng) * t[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def texture(rng: np.random.Generator, height: int, width: int) -> U8:
    """Smooth random fields at a random frequency, plus optional fine grain."""
    cells = int(rng.integers(2, 24))
    grid = rng.uniform(0, 255, (cells, max(2, cells * width // max(height, 1)), 3)).astype(np.float32)
    out = np.asarray(cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC), np.float32)
    if rng.random() < 0.5:
        out += np.asarray(rng.normal(0, rng.uniform(5, 25), out.shape), np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def clutter(rng: np.random.Generator, height: int, width: int) -> U8:
    """Random rectangles, circles and lines: edges and objects that are not people."""
    out = gradient(rng, height, width)
    for _ in range(int(rng.integers(5, 30))):
        colour = tuple(int(c) for c in _colour(rng))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(4, max(5, min(height, width) // 3)))
        shape = rng.integers(3)
        if shape == 0:
            cv2.rectangle(out, (x, y), (x + size, y + int(size * rng.uniform(0.3, 3))), colour, -1)
        elif shape == 1:
            cv2.circle(out, (x, y), size // 2, colour, -1)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(out, (x, y), end, colour, int(rng.integers(1, 6)))
    return out


def photo_region(
    rng: np.random.Generator, height: int, width: int, image: U8, alpha: U8, tries: int = 8
) -> U8 | None:
    """A crop of another photo where its label says background (mean alpha < 2 %), or None."""
    src_h, src_w = image.shape[:2]
    aspect = width / height
    for _ in range(tries):
        crop_h = int(src_h * rng.uniform(0.25, 0.9))
        crop_w = min(src_w, max(8, int(crop_h * aspect)))
        crop_h = max(8, min(src_h, int(crop_w / aspect)))
        y = int(rng.integers(0, src_h - crop_h + 1))
        x = int(rng.integers(0, src_w - crop_w + 1))
        if alpha[y : y + crop_h, x : x + crop_w].mean() < 0.02 * 255:
            crop = image[y : y + crop_h, x : x + crop_w]
            return np.asarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR), np.uint8)
    return None


def random_background(
    rng: np.random.Generator, height: int, width: int, donor_image: U8, donor_alpha: U8
) -> U8:
    kind = rng.random()
    background: U8 | None = None
    if kind < 0.5:
        background = photo_region(rng, height, width, donor_image, donor_alpha)
    elif kind < 0.65:
        background = gradient(rng, height, width)
    elif kind < 0.8:
        background = texture(rng, height, width)
    elif kind < 0.92:
        background = clutter(rng, height, width)
    else:
        background = solid(rng, height, width)
    if background is None:  # the donor is all person: fall back to a synthetic background
        background = texture(rng, height, width) if rng.random() < 0.5 else clutter(rng, height, width)
    if rng.random() < 0.25:  # shallow depth of field behind the subject
        background = np.asarray(cv2.GaussianBlur(background, (0, 0), rng.uniform(1, 5)), np.uint8)
    return background
