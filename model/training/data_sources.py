"""Which photos each stage uses: labelled training photos, the validation split, unlabelled photos
for SOC. The validation split is removed from every training source."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from model.training.label_store import LabelledPhoto, LabelStore
from model.training.paths import Locations
from model.training.photos import SCENE, Photo, list_photos
from model.training.split import partition, read_val_split
from model.training.training_data import keep_for_training


@dataclass
class Split:
    train: list[Photo]  # masked and unmasked photos outside the validation split
    val: list[Photo]  # the committed scene validation photos (remove.bg masks): weights are chosen by these
    other_val: list[Photo]  # held-out portraits and hair photos: reported per category, never trained on


def load_split(loc: Locations) -> Split:
    train, val = partition(list_photos(loc.people_dir), read_val_split(loc.val_split))
    scene = [p for p in val if p.category == SCENE]
    return Split(train, scene, [p for p in val if p.category != SCENE])


def limited(photos: list[Photo], limits: dict[str, float]) -> list[Photo]:
    """The first `limits[category]` photos of each limited category (keys of the new sets are content
    hashes, so the first N are a fair sample), scene photos first: labelling is slow, so what the
    failures need most is labelled first."""
    taken: dict[str, int] = {}
    kept = []
    for photo in sorted(photos, key=lambda p: (p.category != SCENE, p.category, p.key)):
        count = taken.get(photo.category, 0)
        if count < limits.get(photo.category, float("inf")):
            kept.append(photo)
            taken[photo.category] = count + 1
    return kept


def labelled_training_photos(
    loc: Locations, split: Split, limits: dict[str, float] | None = None, log: bool = True
) -> Iterator[LabelledPhoto]:
    """Every training photo (up to `limits` per category) with its label (teacher-only for photos
    without a mask), minus the few whose masks keep non-person objects. A generator: full-size labelled
    photos take ~10 MB each, so a thousand of them are shrunk (or used) one at a time, never all held."""
    store = LabelStore(loc.cache_dir, loc.teacher_onnx)
    dropped = []
    for photo in limited(split.train, limits or {}):
        item = store.load(photo)
        if keep_for_training(item):
            yield item
        else:
            dropped.append(photo.key)
    if log:
        print(f"left out of training, mask keeps non-person objects: {sorted(dropped)}")


def unlabelled_photos(split: Split) -> list[Photo]:
    """SOC adapts on photos without masks (they never are in the validation split)."""
    return [photo for photo in split.train if not photo.has_mask]


def soc_photos(split: Split, with_labelled_scenes: bool) -> list[Photo]:
    """The unlabelled photos, plus (on request) the training split's labelled scene photos with their
    labels ignored: SOC needs none, and the scenes are the category furthest from the teacher."""
    if not with_labelled_scenes:
        return unlabelled_photos(split)
    scenes = [p for p in split.train if p.category == SCENE and p.mask_path is not None]
    return unlabelled_photos(split) + scenes
