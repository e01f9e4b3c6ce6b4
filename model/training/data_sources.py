"""Which photos each stage uses: labelled training photos, the validation split, unlabelled photos
for SOC. The validation split is removed from every training source."""

from __future__ import annotations

from dataclasses import dataclass

from model.training.label_store import LabelledPhoto, LabelStore
from model.training.paths import Locations
from model.training.photos import Photo, list_photos
from model.training.split import partition, read_val_split
from model.training.training_data import keep_for_training


@dataclass
class Split:
    train: list[Photo]  # masked and unmasked photos outside the validation split
    val: list[Photo]  # the committed validation split (all masked)


def load_split(loc: Locations) -> Split:
    train, val = partition(list_photos(loc.people_dir), read_val_split(loc.val_split))
    return Split(train, val)


def labelled_training_photos(loc: Locations, split: Split, log: bool = True) -> list[LabelledPhoto]:
    """Every training photo with its label (teacher-only for photos without a mask), minus the
    few whose masks keep non-person objects."""
    store = LabelStore(loc.cache_dir, loc.teacher_onnx)
    items = [store.load(photo) for photo in split.train]
    kept = [item for item in items if keep_for_training(item)]
    if log:
        dropped = sorted(item.photo.key for item in items if not keep_for_training(item))
        print(f"training photos: {len(kept)} (dropped, mask keeps non-person objects: {dropped})")
    return kept


def unlabelled_photos(split: Split) -> list[Photo]:
    """SOC adapts on photos without masks (they never are in the validation split)."""
    return [photo for photo in split.train if photo.mask_path is None]
