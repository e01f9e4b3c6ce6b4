"""Augmentation for one training sample: geometry, background swap, colour and degradations.

Why each part exists: the labelled photos are few (about 300) and their backgrounds are
correlated with their source, so the network must learn "person vs anything" rather than "person vs
these backgrounds" (background swaps onto other photos' background regions, gradients and
textures); phone uploads arrive flipped, zoomed, compressed, noisy and colour-shifted (the
photometric and degradation steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from model.training.backgrounds import random_background
from model.training.photos import SCENE

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentConfig:
    swap_background_p: float = 0.6  # the rest keep their real background (real context)
    colour_p: float = 0.8
    blur_p: float = 0.15
    noise_p: float = 0.2
    jpeg_p: float = 0.3
    resample_p: float = 0.15  # downscale-upscale, like a small upload enlarged
    crop_zoom: tuple[float, float] = (0.7, 2.0)  # zoom: the photo's short side becomes crop * zoom
    whole_zoom: tuple[float, float] = (1.0, 1.2)  # whole portraits: slight over-cover, then crop
    # Close-ups (every category but scene) made small in the frame this often: see `zoomed_out`.
    closeup_zoom_out_p: float = 0.0
    zoom_out_categories: frozenset[str] = frozenset()  # empty: every close-up category
    zoom_out: tuple[float, float] = (0.35, 0.75)  # the close-up's short side / the frame's short side
    # Samples on a swapped background that get another photo's person pasted into that background
    # first, unlabelled (see `passer_by`).
    passer_by_p: float = 0.0
    passer_by_height: tuple[float, float] = (0.25, 0.6)  # the pasted photo's height / the frame's


@dataclass
class Source:
    """One labelled photo, pre-shrunk for training: image, soft label (uint8) and teacher fg."""

    image: U8
    alpha: U8
    foreground: U8
    original_shape: tuple[int, int]  # (h, w) before shrinking: what the service would be sent
    category: str = SCENE  # model.training.photos' category: batches are balanced across them
    key: str = ""  # the photo's key, for logs (hard-example mining names the hardest)
    # A mask stands behind the label (remove.bg, face parsing or hair); False: the teacher's alone,
    # limbs it drops included (`TrainConfig.teacher_only_weight`).
    masked: bool = True


def _warp(
    source: Source,
    matrix: npt.NDArray[np.float64],
    height: int,
    width: int,
    border: int = cv2.BORDER_REFLECT_101,
) -> tuple[U8, F32, U8]:
    # The same border for all three so the label stays consistent with the pixels (reflected, or
    # zero: nothing, to be composited over).
    def warp(a: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        out = cv2.warpAffine(a, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=border)
        return np.asarray(out, dtype=np.uint8)

    alpha = warp(source.alpha).astype(np.float32) / 255.0
    return warp(source.image), alpha, warp(source.foreground)


def geometry(
    rng: np.random.Generator, source: Source, height: int, width: int, whole: bool, cfg: AugmentConfig
) -> tuple[U8, F32, U8]:
    """Scale, flip and crop to height x width.

    whole=True: the whole portrait resized to cover the output (like inference, which resizes the
    whole upload), cropped by at most the zoom jitter. whole=False: a zoomed crop centred near the
    person, so the network also sees close-ups and partial bodies at higher detail.
    """
    src_h, src_w = source.image.shape[:2]
    cover = max(height / src_h, width / src_w)
    if whole:
        scale = cover * rng.uniform(*cfg.whole_zoom)
        centre_x, centre_y = src_w / 2.0, src_h / 2.0
    else:
        scale = min(height, width) / min(src_h, src_w) * rng.uniform(*cfg.crop_zoom)
        ys, xs = np.nonzero(source.alpha > 127)
        if len(xs) and rng.random() < 0.8:
            pick = rng.integers(len(xs))
            centre_x, centre_y = float(xs[pick]), float(ys[pick])
        else:
            centre_x, centre_y = rng.uniform(0, src_w), rng.uniform(0, src_h)
    # Keep the crop window inside the scaled image where possible (reflection only as a fallback).
    half_w, half_h = width / (2 * scale), height / (2 * scale)
    centre_x = float(np.clip(centre_x, min(half_w, src_w / 2), max(src_w - half_w, src_w / 2)))
    centre_y = float(np.clip(centre_y, min(half_h, src_h / 2), max(src_h - half_h, src_h / 2)))
    if whole:
        centre_x += rng.uniform(-1, 1) * max(0.0, src_w / 2 - half_w)
        centre_y += rng.uniform(-1, 1) * max(0.0, src_h / 2 - half_h)
    flip = -1.0 if rng.random() < 0.5 else 1.0
    matrix = np.array(
        [
            [scale * flip, 0.0, width / 2 - flip * scale * centre_x],
            [0.0, scale, height / 2 - scale * centre_y],
        ]
    )
    return _warp(source, matrix, height, width)


def zoomed_out(
    rng: np.random.Generator, source: Source, height: int, width: int, cfg: AugmentConfig
) -> tuple[U8, F32, U8]:
    """A close-up (a portrait, a head of hair) made small in the frame, as people are in the scene
    photos: scaled so its short side is `cfg.zoom_out` of the frame's, its bottom on the frame's
    bottom edge (the shoulders cut by the frame, as in a half-body photo), at a random horizontal
    place, maybe flipped. Outside it the image and alpha are 0: the caller composites it onto
    another background. Whole frames of close-ups at 320 px cost the scene photos 3-5 IoU points
    (docs/training-campaign.md): they teach that the subject fills the frame."""
    src_h, src_w = source.image.shape[:2]
    scale = min(height, width) * rng.uniform(*cfg.zoom_out) / min(src_h, src_w)
    new_w, new_h = src_w * scale, src_h * scale
    left = rng.uniform(min(0.0, width - new_w), max(0.0, width - new_w))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    matrix = np.array(
        [
            [scale * flip, 0.0, left + (new_w if flip < 0 else 0.0)],
            [0.0, scale, height - new_h],
        ]
    )
    return _warp(source, matrix, height, width, cv2.BORDER_CONSTANT)


def passer_by(rng: np.random.Generator, donor: Source, background: U8, cfg: AugmentConfig) -> U8:
    """`background` with the donor photo's person pasted in, smaller and often out of focus: a
    passer-by, a poster, a person behind the subject. The label stays the subject's alone, as
    remove.bg's masks keep only the main subject; the validation's worst photos were bystanders and
    a face on a shop poster kept as foreground (docs/training-campaign.md)."""
    height, width = background.shape[:2]
    src_h, src_w = donor.image.shape[:2]
    scale = height * rng.uniform(*cfg.passer_by_height) / src_h
    new_w, new_h = src_w * scale, src_h * scale
    left = rng.uniform(-0.5 * new_w, width - 0.5 * new_w)
    top = rng.uniform(min(0.0, height - new_h), max(0.0, height - new_h))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    matrix = np.array([[scale * flip, 0.0, left + (new_w if flip < 0 else 0.0)], [0.0, scale, top]])
    image, alpha, foreground = _warp(donor, matrix, height, width, cv2.BORDER_CONSTANT)
    if rng.random() < 0.6:  # depth of field: people behind the subject are rarely sharp
        sigma = rng.uniform(0.8, 3.0)
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8)
        foreground = np.asarray(cv2.GaussianBlur(foreground, (0, 0), sigma), np.uint8)
        alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), sigma), np.float32)
    return composite(foreground, image, alpha, background)


def composite(foreground: U8, image: U8, alpha: F32, background: U8) -> U8:
    """Alpha-composite onto a new background. The teacher's foreground colour is used where the
    label is soft, so hair does not carry a fringe of the old background."""
    a = alpha[..., None]
    fg = np.where(a < 0.98, foreground, image).astype(np.float32)
    out = fg * a + background.astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def colour_jitter(rng: np.random.Generator, image: U8) -> U8:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180.0
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = (out - 128.0) * rng.uniform(0.7, 1.3) + 128.0 + rng.uniform(-30, 30)
    gamma = rng.uniform(0.75, 1.33)
    out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def degrade(rng: np.random.Generator, image: U8, cfg: AugmentConfig) -> U8:
    height, width = image.shape[:2]
    if rng.random() < cfg.resample_p:
        factor = rng.uniform(0.35, 0.8)
        small = cv2.resize(image, (max(8, int(width * factor)), max(8, int(height * factor))))
        image = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.uint8)
    if rng.random() < cfg.blur_p:
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.6)), np.uint8)
    if rng.random() < cfg.noise_p:
        noise = rng.normal(0.0, rng.uniform(2, 9), image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_p:
        quality = int(rng.integers(35, 96))
        ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            image = np.ascontiguousarray(decoded[:, :, ::-1])
    return np.asarray(image, dtype=np.uint8)


def augment(
    rng: np.random.Generator,
    sources: list[Source],
    index: int,
    height: int,
    width: int,
    whole: bool,
    cfg: AugmentConfig,
) -> tuple[U8, F32]:
    """One training pair (RGB uint8 H x W x 3, alpha float32 H x W) from `sources[index]`."""
    source = sources[index]
    zoomable = source.category != SCENE and (
        not cfg.zoom_out_categories or source.category in cfg.zoom_out_categories
    )
    zoomed = zoomable and rng.random() < cfg.closeup_zoom_out_p
    if zoomed:
        image, alpha, foreground = zoomed_out(rng, source, height, width, cfg)
    else:
        image, alpha, foreground = geometry(rng, source, height, width, whole, cfg)
    if zoomed or rng.random() < cfg.swap_background_p:
        donor_index = int(rng.integers(max(1, len(sources) - 1)))
        if len(sources) > 1 and donor_index >= index:
            donor_index += 1  # any photo but this one
        donor = sources[donor_index]
        background = random_background(rng, height, width, donor.image, donor.alpha)
        if rng.random() < cfg.passer_by_p:
            background = passer_by(rng, donor, background, cfg)
        image = composite(foreground, image, alpha, background)
    if rng.random() < cfg.colour_p:
        image = colour_jitter(rng, image)
    return degrade(rng, image, cfg), alpha
