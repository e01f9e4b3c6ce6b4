"""Training batches: labelled photos held in memory, a deterministic per-step batch plan, and a
torch Dataset that turns each planned sample into an augmented (image, alpha) pair.

Every sample's randomness derives from (seed, step, slot), so a resumed run sees exactly the batches
an uninterrupted run would have seen, whatever the number of loader workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from model.serving import network_input_size
from model.training.augment import AugmentConfig, Source, augment
from model.training.label_store import LabelledPhoto
from model.training.photos import HAIR, PORTRAIT, SCENE
from model.training.soft_labels import MAX_MASK_ONLY_FRACTION, mask_only_fraction


@dataclass(frozen=True)
class SampleKey:
    index: int
    height: int
    width: int
    whole: bool
    step: int
    slot: int


def keep_for_training(item: LabelledPhoto) -> bool:
    return item.mask is None or mask_only_fraction(item.mask, item.teacher_alpha) <= MAX_MASK_ONLY_FRACTION


def to_source(item: LabelledPhoto, max_short_side: int) -> Source:
    """Shrinks once up front: augmentation then works on small arrays (and workers share them)."""
    height, width = item.image.shape[:2]
    scale = min(1.0, max_short_side / min(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))

    def shrink(a: np.ndarray) -> np.ndarray:
        return a if scale == 1.0 else cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    alpha_u8 = (np.clip(item.alpha, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    return Source(
        shrink(item.image),
        shrink(alpha_u8),
        shrink(item.foreground),
        (height, width),
        item.photo.category,
        item.photo.key,
        item.photo.has_mask,
    )


def parse_category_values(text: str) -> dict[str, float]:
    """ "scene:0.5,portrait:0.25" -> {"scene": 0.5, "portrait": 0.25}: the form of both the
    `category_weights` and the `category_limits` setting (empty text: no entry)."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition(":")
        if not sep or float(value) < 0:
            raise ValueError(f"category setting {part!r}: expected name:number >= 0")
        values[name.strip()] = float(value)
    return values


def parse_category_names(text: str) -> frozenset[str]:
    """ "portrait, hair" -> {"portrait", "hair"}: a setting that names categories (empty: none)."""
    names = frozenset(filter(None, (p.strip() for p in text.split(","))))
    unknown = names - {SCENE, PORTRAIT, HAIR}
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; known: {[SCENE, PORTRAIT, HAIR]}")
    return names


def sampling_probabilities(
    sources: list[Source],
    category_weights: dict[str, float],
    boost: np.ndarray | None = None,
    teacher_only_weight: float = 1.0,
) -> np.ndarray:
    """Per-photo sampling probability: each category gets its weight's share of the samples, split
    among its photos evenly or in proportion to `boost` (hard-example mining,
    `model.training.hard_examples`); categories without a weight share equally with weight 1. Without
    this the 1,000 close portraits would drown the 200 scene photos the scene failures (limbs,
    clutter) need. Within a category a photo without a mask is drawn `teacher_only_weight` times as
    often as one with a mask (a category of such photos alone keeps its share)."""
    categories = [s.category for s in sources]
    boost = np.ones(len(sources)) if boost is None else np.asarray(boost, np.float64)
    if boost.shape != (len(sources),) or (boost <= 0).any():
        raise ValueError("boost: one positive number per photo")
    if teacher_only_weight < 0:
        raise ValueError("teacher_only_weight must be >= 0")
    draws = np.where([s.masked for s in sources], boost, boost * teacher_only_weight)
    members = {c: np.array([k == c for k in categories]) for c in set(categories)}
    for member in members.values():
        if draws[member].sum() <= 0:  # no masked photo at weight 0: its photos stay as drawn
            draws[member] = boost[member]
    totals = {c: float(draws[m].sum()) for c, m in members.items()}
    per_photo = np.array(
        [category_weights.get(c, 1.0) * d / totals[c] for c, d in zip(categories, draws, strict=True)],
        np.float64,
    )
    if per_photo.sum() <= 0:
        raise ValueError("category weights leave nothing to sample")
    return per_photo / per_photo.sum()


def _aspect_bucket(height: int, width: int) -> int:
    aspect = width / height
    return 0 if aspect < 0.85 else (1 if aspect <= 1.18 else 2)


class BatchPlan(Sampler[list[SampleKey]]):
    """Yields one list of SampleKeys per step, from `start_step` to `end_step`.

    A `whole_fraction` of batches are whole portraits at the network input shape the service would
    use for a random anchor photo (`model.serving.network_input_size`), with batch members from the
    anchor's aspect bucket so they are barely cropped: the context the network sees in service.
    The rest are square zoomed crops of `crop_size`.
    """

    def __init__(
        self,
        sources: list[Source],
        batch_size: int,
        train_size: int,
        crop_size: int,
        whole_fraction: float,
        seed: int,
        start_step: int,
        end_step: int,
        category_weights: dict[str, float] | None = None,
        boost: np.ndarray | None = None,
        teacher_only_weight: float = 1.0,
    ) -> None:
        self.shapes = [s.original_shape for s in sources]
        self.probabilities = sampling_probabilities(
            sources, category_weights or {}, boost, teacher_only_weight
        )
        self.buckets: dict[int, list[int]] = {}
        for index, (h, w) in enumerate(self.shapes):
            self.buckets.setdefault(_aspect_bucket(h, w), []).append(index)
        self.batch_size, self.train_size, self.crop_size = batch_size, train_size, crop_size
        self.whole_fraction, self.seed = whole_fraction, seed
        self.start_step, self.end_step = start_step, end_step

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)

    def plan(self, step: int) -> list[SampleKey]:
        rng = np.random.default_rng([self.seed, step])
        if rng.random() < self.whole_fraction:
            anchor = int(rng.choice(len(self.shapes), p=self.probabilities))
            anchor_h, anchor_w = self.shapes[anchor]
            height, width = network_input_size(anchor_h, anchor_w, self.train_size)
            # Extreme panoramas would blow up the batch; inference sees few of them.
            height, width = min(height, 2 * self.train_size), min(width, 2 * self.train_size)
            pool = np.array(self.buckets[_aspect_bucket(anchor_h, anchor_w)])
            weights = self.probabilities[pool] / self.probabilities[pool].sum()
            picks = rng.choice(len(pool), size=self.batch_size - 1, p=weights)
            members = [anchor] + [int(pool[i]) for i in picks]
            return [SampleKey(m, height, width, True, step, k) for k, m in enumerate(members)]
        picks = rng.choice(len(self.shapes), size=self.batch_size, p=self.probabilities)
        members = [int(i) for i in picks]
        size = self.crop_size
        return [SampleKey(m, size, size, False, step, k) for k, m in enumerate(members)]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        for step in range(self.start_step, self.end_step):
            yield self.plan(step)


class AugmentedPhotos(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """dataset[SampleKey] -> (image uint8 [3,H,W], alpha float32 [1,H,W])."""

    def __init__(self, sources: list[Source], seed: int, cfg: AugmentConfig | None = None) -> None:
        self.sources, self.seed, self.cfg = sources, seed, cfg or AugmentConfig()

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, key.step, key.slot, 1])
        image, alpha = augment(rng, self.sources, key.index, key.height, key.width, key.whole, self.cfg)
        return torch.from_numpy(image).permute(2, 0, 1).contiguous(), torch.from_numpy(alpha)[None]
