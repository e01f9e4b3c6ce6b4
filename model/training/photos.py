"""The catalogue of people photos: which files exist, which have a person mask (and how it is
encoded), which have a hair mask, and which category each belongs to."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

# Mask encodings. remove.bg masks are 0..255 (person >= 128); face-parsing masks are class ids 0..18
# (0 background, any other class is part of the person), so they need another threshold.
BINARY = "binary"
PARSING = "parsing"
# Folders whose `masks/` hold face-parsing class ids rather than 0..255 person masks.
PARSING_FOLDERS = ("celebamask-parsing",)

# Categories the validation reports separately: the failures differ (limbs and clutter in scenes,
# the head/shoulder outline in close portraits, strands in hair photos).
SCENE = "scene"
PORTRAIT = "portrait"
HAIR = "hair"
_CATEGORY_OF_FOLDER = {"celebamask-parsing": PORTRAIT, "figaro1k-hair": HAIR}


@dataclass(frozen=True)
class Photo:
    """One photo. `key` ("folder/stem") names it in the validation split file."""

    key: str
    image_path: Path
    mask_path: Path | None
    mask_kind: str = BINARY  # how `mask_path` encodes the person (BINARY or PARSING)
    hair_mask_path: Path | None = None  # hair-only mask (0..255): checks that hair is kept
    category: str = SCENE

    @property
    def has_mask(self) -> bool:
        """A person or hair mask labels it; without one its label is the teacher's alone."""
        return self.mask_path is not None or self.hair_mask_path is not None

    def content_hash(self) -> str:
        """Caches are keyed by the image bytes, so an edited photo never reuses a stale label."""
        return hashlib.sha256(self.image_path.read_bytes()).hexdigest()[:24]


def list_photos(people_dir: Path) -> list[Photo]:
    """Every photo under `people_dir`, sorted by key. Layouts understood: `<folder>/images/N.jpg` with
    optional `<folder>/masks/N.png` (person) and `<folder>/hair_masks/N.png` (hair only), plus
    `<folder>/unlabeled/*.jpg`; and `<folder>/*.jpg` (no masks)."""
    photos: list[Photo] = []
    for folder in sorted(p for p in people_dir.iterdir() if p.is_dir()):
        images_dir = folder / "images"
        sources = [images_dir, folder / "unlabeled"] if images_dir.is_dir() else [folder]
        kind = PARSING if folder.name in PARSING_FOLDERS else BINARY
        category = _CATEGORY_OF_FOLDER.get(folder.name, SCENE)
        for source in sources:
            if not source.is_dir():
                continue
            labelled = source == images_dir
            prefix = folder.name if source != folder / "unlabeled" else f"{folder.name}/unlabeled"
            for path in sorted(source.iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                mask = folder / "masks" / f"{path.stem}.png"
                hair = folder / "hair_masks" / f"{path.stem}.png"
                photos.append(
                    Photo(
                        f"{prefix}/{path.stem}",
                        path,
                        mask if labelled and mask.is_file() else None,
                        kind,
                        hair if labelled and hair.is_file() else None,
                        category,
                    )
                )
    return photos


def read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """H x W x 3 RGB uint8 (cv2 applies EXIF orientation, as the service does)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _read_grey(path: Path) -> npt.NDArray[np.integer]:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ValueError(f"cannot decode {path}")
    if data.ndim == 3:
        # RGBA cut-outs carry the mask in alpha; plain RGB masks are grey anyway.
        data = data[:, :, 3] if data.shape[2] == 4 else data[:, :, 0]
    return np.asarray(data)


def read_mask(path: Path, height: int, width: int, kind: str = BINARY) -> npt.NDArray[np.bool_]:
    """The person mask as booleans at the image's size (some masks are stored smaller)."""
    mask = _read_grey(path)
    if kind == PARSING:
        # Class ids must not be interpolated (a 0/18 edge would invent classes): nearest neighbour.
        person = (mask > 0).astype(np.uint8)
        if person.shape != (height, width):
            resized = cv2.resize(person, (width, height), interpolation=cv2.INTER_NEAREST)
            person = np.asarray(resized, np.uint8)
        return np.asarray(person > 0)
    scale = 65535.0 if mask.dtype == np.uint16 else 255.0
    mask_f = mask.astype(np.float32) / scale
    if mask_f.shape != (height, width):
        mask_f = np.asarray(cv2.resize(mask_f, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)
    return np.asarray(mask_f >= 0.5)


def read_photo_mask(photo: Photo, height: int, width: int) -> npt.NDArray[np.bool_] | None:
    """The photo's person mask in its own encoding, or None when it has none."""
    return None if photo.mask_path is None else read_mask(photo.mask_path, height, width, photo.mask_kind)


def read_hair_mask(photo: Photo, height: int, width: int) -> npt.NDArray[np.bool_] | None:
    return None if photo.hair_mask_path is None else read_mask(photo.hair_mask_path, height, width)
