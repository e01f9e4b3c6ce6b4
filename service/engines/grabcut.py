"""GrabCut (OpenCV, CPU): the fallback engine, and the only one until MODNet weights ship.

GrabCut fits two colour models (person, background) and cuts the graph between them; what it
finds depends mostly on where it starts. We start from a person prior (`person_prior`: a face ->
head, neck and body; else a pedestrian detection; else the centre), work on a copy whose longer
side is at most `WORK_SIDE` (GrabCut's cost grows faster than its pixel count), keep only the
pieces of the cut that touch the person's certain core, fill small enclosed holes, and give the
hard cut soft edges at full resolution with a colour guided filter. `segment_rectangle` is the
textbook start, kept as the baseline; `python -m bench.grabcut_iou` measures both against
remove.bg's masks (docs/benchmarks.md, "GrabCut"): the person prior lifts mean IoU from about 0.49
to 0.72, and is faster.

Deterministic: OpenCV's RNG (thread-local, used by GrabCut's k-means) is seeded before each cut.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from service.contract import Alpha, RGBImage
from service.engines.person_detect import PersonDetector
from service.engines.person_prior import Labels, person_labels, rectangle_prior
from service.imaging.guided_filter import guided_filter

# Chosen on every 5th photo of the people set (bench/grabcut_iou.py): mean IoU 0.69 at 256 px,
# 0.75 at 384, 0.71 at 512 (and 2x the time); 1, 2, 4 or 8 iterations all within 0.015 of each other.
WORK_SIDE = 384
ITERATIONS = 2
MIN_SIDE = 16  # below this there are too few pixels for two colour models: the whole image is kept
_SEED = 0x5EED
_FG_LABELS = (cv2.GC_FGD, cv2.GC_PR_FGD)
_MAX_HOLE = 0.001  # of the frame's area


def work_copy(rgb: RGBImage, work_side: int) -> RGBImage:
    h, w = rgb.shape[:2]
    scale = work_side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def _cut(work_rgb: RGBImage, labels: Labels, iterations: int) -> npt.NDArray[np.bool_]:
    """GrabCut from `labels`; the foreground as a boolean mask. Falls back to the prior itself when
    GrabCut cannot run (e.g. a flat image gives it no two colour models)."""
    prior = np.isin(labels, _FG_LABELS)
    mask = labels.copy()
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_SEED)
    try:
        # GrabCut wants BGR only by convention; the colour models do not care about channel order.
        cv2.grabCut(work_rgb, mask, (0, 0, 0, 0), bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return prior
    found = np.isin(mask, _FG_LABELS)
    return found if found.any() else prior


def _keep_connected(found: npt.NDArray[np.bool_], core: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Drop blobs that touch no certain-foreground pixel: GrabCut leaves specks of person-coloured
    background around the frame. Without a core (centre prior) the largest blob stays."""
    count, comp = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    if count <= 2:
        return found
    keep = np.unique(comp[core & found])
    keep = keep[keep > 0]
    if keep.size == 0:
        sizes = np.bincount(comp.ravel(), minlength=count)
        sizes[0] = 0
        keep = np.array([int(sizes.argmax())])
    return np.isin(comp, keep)


def _fill_small_holes(found: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Fill background islands enclosed by the person and smaller than `_MAX_HOLE` of the frame: a
    shirt button or a highlight that GrabCut gave to the background. Larger enclosed regions (the
    gap between an arm and the body) are real background and stay."""
    _, comp, stats, _ = cv2.connectedComponentsWithStats((~found).astype(np.uint8), connectivity=4)
    h, w = found.shape
    x, y, cw, ch, area = (stats[:, i] for i in range(5))
    touches_border = (x == 0) | (y == 0) | (x + cw == w) | (y + ch == h)
    small = ~touches_border & (area <= _MAX_HOLE * h * w)
    small[0] = False  # label 0 is the person itself
    return found | small[comp] if small.any() else found


def _soft_edges(rgb: RGBImage, hard: npt.NDArray[np.bool_]) -> Alpha:
    """Scale the work-size cut up to the photo and let the photo's colours place the edge: a guided
    filter whose window is about two work-size pixels wide."""
    h, w = rgb.shape[:2]
    alpha = np.asarray(
        cv2.resize(hard.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), np.float32
    )
    scale = max(h, w) / max(hard.shape)
    radius = max(2, round(2 * scale))
    soft = guided_filter(rgb, alpha, radius, 1e-3, subsample=max(1, radius // 4))
    return np.clip(soft, 0.0, 1.0, out=soft)  # guided_filter returns float32: clip in place


def _segment(rgb: RGBImage, labels: Labels, work: RGBImage, iterations: int, keep_core: bool) -> Alpha:
    found = _cut(work, labels, iterations)
    if keep_core:
        found = _fill_small_holes(_keep_connected(found, labels == cv2.GC_FGD))
    return _soft_edges(rgb, found)


def _too_small(rgb: RGBImage) -> Alpha | None:
    if min(rgb.shape[:2]) < MIN_SIDE:
        return np.ones(rgb.shape[:2], dtype=np.float32)
    return None


def segment_person(
    rgb: RGBImage,
    detector: PersonDetector,
    work_side: int = WORK_SIDE,
    iterations: int = ITERATIONS,
) -> Alpha:
    """Alpha (H x W float32) of the people in `rgb`, GrabCut started from the face/body/centre prior."""
    tiny = _too_small(rgb)
    if tiny is not None:
        return tiny
    work = work_copy(rgb, work_side)
    labels, _ = person_labels(work, detector)
    return _segment(rgb, labels, work, iterations, keep_core=True)


def segment_rectangle(
    rgb: RGBImage, margin: float = 0.05, work_side: int = WORK_SIDE, iterations: int = ITERATIONS
) -> Alpha:
    """Baseline: GrabCut started from a rectangle `margin` inside the border, same pipeline otherwise."""
    tiny = _too_small(rgb)
    if tiny is not None:
        return tiny
    work = work_copy(rgb, work_side)
    return _segment(rgb, rectangle_prior(work.shape[:2], margin), work, iterations, keep_core=False)


class GrabCutEngine:
    """`MattingEngine` over `segment_person`. Stateless apart from per-thread face cascades, so
    the service may call `predict_batch` from several worker threads at once."""

    name = "grabcut"

    def __init__(self, work_side: int = WORK_SIDE, iterations: int = ITERATIONS) -> None:
        self.model_id = f"grabcut-opencv-{cv2.__version__}"
        self.work_side = work_side
        self.iterations = iterations
        self._detector = PersonDetector()

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        return height, width  # full resolution: the guided filter softens its edges on the photo

    def bucket_key(self, image: RGBImage) -> Hashable:
        return "grabcut"  # one image at a time: any images may share a batch

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        return [segment_person(im, self._detector, self.work_side, self.iterations) for im in images]

    def warmup(self) -> None:
        # Loads the calling thread's detectors (other threads load theirs on first use) and runs
        # every stage once on an image big enough for the pedestrian detector's window.
        yy, xx = np.mgrid[0:160, 0:120]
        figure = ((yy - 50) ** 2 + (xx - 60) ** 2 < 400) | ((yy > 70) & (abs(xx - 60) < 25))
        image = np.where(figure[..., None], (200, 150, 120), (40, 90, 160)).astype(np.uint8)
        self.predict_batch([np.ascontiguousarray(image)])

    def close(self) -> None:
        pass  # nothing held but per-thread cascades, which go with their threads
