"""The catalogue of people photos: which files exist and which have a remove.bg mask."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Photo:
    """One photo. `key` ("folder/stem") names it in the validation split file."""

    key: str
    image_path: Path
    mask_path: Path | None

    def content_hash(self) -> str:
        """Caches are keyed by the image bytes, so an edited photo never reuses a stale label."""
        return hashlib.sha256(self.image_path.read_bytes()).hexdigest()[:24]


def list_photos(people_dir: Path) -> list[Photo]:
    """Every photo under `people_dir`, sorted by key. Two layouts are understood:
    `<folder>/images/N.jpg` with optional `<folder>/masks/N.png`, and `<folder>/*.jpg` (no masks)."""
    photos: list[Photo] = []
    for folder in sorted(p for p in people_dir.iterdir() if p.is_dir()):
        images_dir = folder / "images"
        source = images_dir if images_dir.is_dir() else folder
        for path in sorted(source.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            mask = folder / "masks" / f"{path.stem}.png"
            photos.append(Photo(f"{folder.name}/{path.stem}", path, mask if mask.is_file() else None))
    return photos


def read_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """H x W x 3 RGB uint8 (cv2 applies EXIF orientation, as the service does)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def read_mask(path: Path, height: int, width: int) -> npt.NDArray[np.bool_]:
    """The remove.bg mask as booleans at the image's size (some masks are stored smaller)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"cannot decode {path}")
    if mask.ndim == 3:
        # RGBA cut-outs carry the mask in alpha; plain RGB masks are grey anyway.
        mask = mask[:, :, 3] if mask.shape[2] == 4 else mask[:, :, 0]
    scale = 65535.0 if mask.dtype == np.uint16 else 255.0
    mask_f = mask.astype(np.float32) / scale
    if mask_f.shape != (height, width):
        mask_f = np.asarray(cv2.resize(mask_f, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)
    return np.asarray(mask_f >= 0.5)
