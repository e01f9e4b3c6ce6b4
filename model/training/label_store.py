"""Cache of teacher outputs and combined labels, keyed by the photo's content hash.

Layout under the cache dir (git-ignored):
    teacher-<onnx hash>/<photo hash>.alpha.png   16-bit teacher alpha
    teacher-<onnx hash>/<photo hash>.fgr.png     teacher foreground colour (for background swaps)
    labels-v<N>-<onnx hash>/<photo hash>.png     16-bit combined label
The teacher is the slow part, so it is cached separately: changing the combination rule (bump
LABEL_VERSION) recomputes labels in seconds without rerunning the teacher.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from model.training.photos import Photo, read_hair_mask, read_photo_mask, read_rgb
from model.training.soft_labels import combine_mask_and_teacher, keep_masked_hair
from model.training.teacher import RvmTeacher

# 2: the teacher no longer erases the inside of a mask; 3: nor the hair a hair mask marks (soft_labels)
LABEL_VERSION = 3


def _write_alpha16(path: Path, alpha: npt.NDArray[np.float32]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")  # write-then-rename: an interrupted run leaves no half file
    cv2.imwrite(str(tmp), (np.clip(alpha, 0, 1) * 65535.0 + 0.5).astype(np.uint16))
    tmp.replace(path)


def _read_alpha16(path: Path) -> npt.NDArray[np.float32]:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise FileNotFoundError(path)
    return (data.astype(np.float32) / 65535.0).astype(np.float32)


@dataclass
class LabelledPhoto:
    photo: Photo
    image: npt.NDArray[np.uint8]  # H x W x 3 RGB
    alpha: npt.NDArray[np.float32]  # H x W label (mask-corrected where a mask exists)
    foreground: npt.NDArray[np.uint8]  # H x W x 3 teacher foreground colour
    teacher_alpha: npt.NDArray[np.float32]  # H x W raw teacher prediction
    mask: npt.NDArray[np.bool_] | None  # remove.bg mask at image size, when there is one


class LabelStore:
    def __init__(self, cache_dir: Path, teacher_onnx: Path) -> None:
        onnx_hash = hashlib.sha256(teacher_onnx.read_bytes()).hexdigest()[:8]
        self.teacher_onnx = teacher_onnx
        self.teacher_dir = cache_dir / f"teacher-{onnx_hash}"
        self.label_dir = cache_dir / f"labels-v{LABEL_VERSION}-{onnx_hash}"
        self._teacher: RvmTeacher | None = None
        self._hashes: dict[Path, str] = {}

    def _hash(self, photo: Photo) -> str:
        if photo.image_path not in self._hashes:
            self._hashes[photo.image_path] = photo.content_hash()
        return self._hashes[photo.image_path]

    def _paths(self, photo: Photo) -> tuple[Path, Path, Path]:
        digest = self._hash(photo)
        return (
            self.teacher_dir / f"{digest}.alpha.png",
            self.teacher_dir / f"{digest}.fgr.png",
            self.label_dir / f"{digest}.png",
        )

    def teacher(self) -> RvmTeacher:
        if self._teacher is None:
            self._teacher = RvmTeacher(self.teacher_onnx)
        return self._teacher

    def teacher_outputs(
        self, photo: Photo, image: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        alpha_path, fgr_path, _ = self._paths(photo)
        if alpha_path.is_file() and fgr_path.is_file():
            fgr = cv2.imread(str(fgr_path), cv2.IMREAD_COLOR)
            if fgr is None:
                raise ValueError(f"corrupt cache entry {fgr_path}: delete it to recompute")
            return _read_alpha16(alpha_path), np.ascontiguousarray(fgr[:, :, ::-1])
        alpha, fgr = self.teacher().predict(image)
        fgr_path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(fgr_path), np.ascontiguousarray(fgr[:, :, ::-1]))
        _write_alpha16(alpha_path, alpha)  # written last: its presence marks a complete entry
        return alpha, fgr

    @staticmethod
    def combine(
        photo: Photo, mask: npt.NDArray[np.bool_] | None, teacher_alpha: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """The training label from the teacher's alpha and whichever mask the photo has."""
        if mask is not None:
            return combine_mask_and_teacher(mask, teacher_alpha)
        hair = read_hair_mask(photo, *teacher_alpha.shape)
        return teacher_alpha if hair is None else keep_masked_hair(hair, teacher_alpha)

    def load(self, photo: Photo) -> LabelledPhoto:
        """The photo with its label, computing and caching whatever is missing."""
        image = read_rgb(photo.image_path)
        height, width = image.shape[:2]
        teacher_alpha, fgr = self.teacher_outputs(photo, image)
        mask = read_photo_mask(photo, height, width)
        _, _, label_path = self._paths(photo)
        if label_path.is_file():
            alpha = _read_alpha16(label_path)
        else:
            alpha = self.combine(photo, mask, teacher_alpha)
            _write_alpha16(label_path, alpha)
        return LabelledPhoto(photo, image, alpha, fgr, teacher_alpha, mask)
