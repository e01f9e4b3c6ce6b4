"""Finding people with what OpenCV bundles: Haar face cascades and the HOG pedestrian detector.

Measured on ../shared/data/people/segmentation-remove-bg at GrabCut's work size (longer side 384):
- Frontal faces (cascade "alt2", 93% of its hits on a person against 82% for "default"), then
  profile faces both ways: a face in about two thirds of the photos. False hits (bark, leaves) are
  dropped by skin chroma: 97% of true faces are more than 65% skin-coloured in their middle,
  10 of the 14 false hits are less.
- Without a face, Dalal & Triggs' HOG people detector (coefficients compiled into OpenCV, no file)
  puts its best window on the person in about two thirds of the remaining photos, mostly small
  full-body pedestrians (46 ms a photo).

The cascades ship only with opencv-python < 5 (pinned in pyproject.toml); without them detection
quietly returns nothing and the centre prior is used.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

_CASCADES = ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")
_MIN_FACE_FRACTION = 0.03  # of the short side; smaller hits are mostly texture
_MIN_FACE_PX = 14
_KEEP_RELATIVE = 0.3  # faces below 30% of the largest one's width are dropped as false hits
_MIN_SKIN = 0.65  # fraction of skin-chroma pixels in the middle half of a face box
_HOG_WINDOW = (64, 128)  # the default people detector's window; smaller images cannot hold one
_KEEP_BODY_WEIGHT = 0.5  # bodies scoring below half the best one are dropped


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


def _cascade_path(name: str) -> Path | None:
    data = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if data is None or not hasattr(cv2, "CascadeClassifier"):
        return None  # OpenCV 5 moved the cascades out of the main package
    path = Path(data) / name
    return path if path.is_file() else None


def _skin_fraction(rgb: npt.NDArray[np.uint8], face: Box) -> float:
    """Share of skin-chroma pixels (YCrCb box of Chai & Ngan 1999, widened) in the face's middle."""
    y0, y1 = face.y + face.h // 4, face.y + 3 * face.h // 4
    x0, x1 = face.x + face.w // 4, face.x + 3 * face.w // 4
    inner = rgb[y0:y1, x0:x1]
    if inner.size == 0:
        return 0.0
    ycrcb = cv2.cvtColor(np.ascontiguousarray(inner), cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    return float(np.mean((cr >= 133) & (cr <= 180) & (cb >= 77) & (cb <= 135)))


def _cascade_hits(cascade: cv2.CascadeClassifier, gray: npt.NDArray[np.uint8], min_side: int) -> list[Box]:
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side))
    return [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


class PersonDetector:
    """Faces and bodies. OpenCV does not document its detectors as thread-safe, so each thread
    builds its own (about 20 ms, once per thread); instances are safe to share between threads."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.faces_available = all(_cascade_path(n) is not None for n in _CASCADES)
        self.bodies_available = hasattr(cv2, "HOGDescriptor")

    def _cascades(self) -> list[cv2.CascadeClassifier]:
        cascades: list[cv2.CascadeClassifier] | None = getattr(self._local, "cascades", None)
        if cascades is None:
            paths = [_cascade_path(n) for n in _CASCADES]
            cascades = [cv2.CascadeClassifier(str(p)) for p in paths if p is not None]
            self._local.cascades = cascades
        return cascades

    def _hog(self) -> cv2.HOGDescriptor:
        hog: cv2.HOGDescriptor | None = getattr(self._local, "hog", None)
        if hog is None:
            hog = cv2.HOGDescriptor()
            hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))
            self._local.hog = hog
        return hog

    def faces(self, rgb: npt.NDArray[np.uint8]) -> list[Box]:
        """Faces, largest first: frontal ones, else profile ones looking either way."""
        h, w = rgb.shape[:2]
        min_side = max(_MIN_FACE_PX, round(_MIN_FACE_FRACTION * min(h, w)))
        if not self.faces_available or min(h, w) < min_side:
            return []
        gray = np.asarray(cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)), dtype=np.uint8)
        frontal, profile = self._cascades()
        boxes = _cascade_hits(frontal, gray, min_side)
        if not boxes:
            boxes = _cascade_hits(profile, gray, min_side)
            # The profile cascade only knows faces looking one way: mirror for the other.
            mirrored = _cascade_hits(profile, np.ascontiguousarray(gray[:, ::-1]), min_side)
            boxes += [Box(w - f.x - f.w, f.y, f.w, f.h) for f in mirrored]
        boxes = [f for f in boxes if _skin_fraction(rgb, f) >= _MIN_SKIN]
        if not boxes:
            return []
        boxes.sort(key=lambda f: f.w, reverse=True)
        return [f for f in boxes if f.w >= _KEEP_RELATIVE * boxes[0].w]

    def bodies(self, rgb: npt.NDArray[np.uint8]) -> list[Box]:
        """HOG detection windows of standing people, best first. A window is about twice the
        person's width and 1.3x their height (Dalal & Triggs' 64 x 128 around a ~96 px walker)."""
        h, w = rgb.shape[:2]
        if not self.bodies_available or w < _HOG_WINDOW[0] or h < _HOG_WINDOW[1]:
            return []
        rects, weights = self._hog().detectMultiScale(rgb, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return []
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        order = np.argsort(-scores)
        best = scores[order[0]]
        return [Box(*(int(v) for v in rects[i])) for i in order if scores[i] >= _KEEP_BODY_WEIGHT * best]
