"""GrabCut quality on ../shared/data/people/segmentation-remove-bg: plain rectangle vs person prior.

    .venv/bin/python -m bench.grabcut_iou            # all 250 photos, ~10 min on one core
    .venv/bin/python -m bench.grabcut_iou --every 5  # a quick subset: every 5th photo

Prints a markdown table: IoU of alpha >= 0.5 against remove.bg's masks (mean and median over
photos), mean absolute alpha error, and mean seconds per photo; overall, then split by what the
person prior found in the photo (a face, a pedestrian body, or nothing: centre prior). Masks
smaller than their photo are scaled up to it (nearest neighbour: they are binary).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from service.engines.grabcut import ITERATIONS, WORK_SIDE, segment_person, segment_rectangle, work_copy
from service.engines.person_detect import PersonDetector
from service.engines.person_prior import person_labels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "people" / "segmentation-remove-bg"

Segmenter = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]]


def load_pairs(data: Path = DATA, limit: int | None = None) -> list[tuple[str, Path, Path]]:
    """(name, image path, mask path) for every photo that has a mask, in numeric order."""
    images = sorted(data.glob("images/*.jpg"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
    pairs = [(p.stem, p, data / "masks" / f"{p.stem}.png") for p in images]
    pairs = [pair for pair in pairs if pair[2].is_file()]
    return pairs[:limit] if limit else pairs


def load_example(image_path: Path, mask_path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """RGB photo and its boolean person mask at the photo's size."""
    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if bgr is None or mask is None:
        raise FileNotFoundError(f"cannot read {image_path} or {mask_path}")
    h, w = bgr.shape[:2]
    if mask.shape != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), mask > 127


def iou(alpha: npt.NDArray[np.float32], truth: npt.NDArray[np.bool_]) -> float:
    found = alpha >= 0.5
    union = np.count_nonzero(found | truth)
    return 1.0 if union == 0 else np.count_nonzero(found & truth) / union


@dataclass
class Score:
    ious: list[float] = field(default_factory=list)
    maes: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, alpha: npt.NDArray[np.float32], truth: npt.NDArray[np.bool_], seconds: float) -> None:
        self.ious.append(iou(alpha, truth))
        self.maes.append(float(np.abs(alpha - truth).mean()))
        self.seconds.append(seconds)

    def row(self, name: str) -> str:
        return (
            f"| {name} | {len(self.ious)} | {statistics.fmean(self.ious):.3f} | "
            f"{statistics.median(self.ious):.3f} | {statistics.fmean(self.maes):.3f} | "
            f"{statistics.fmean(self.seconds):.3f} |"
        )


def evaluate(
    segmenters: dict[str, Segmenter],
    pairs: list[tuple[str, Path, Path]],
    kind_of: Callable[[npt.NDArray[np.uint8]], str],
    verbose: bool = False,
) -> dict[tuple[str, str], Score]:
    """Scores by (segmenter, photo kind), plus (segmenter, "all")."""
    scores: dict[tuple[str, str], Score] = {}
    for stem, image_path, mask_path in pairs:
        rgb, truth = load_example(image_path, mask_path)
        kind = kind_of(rgb)
        line = [stem, kind]
        for name, segment in segmenters.items():
            start = time.perf_counter()
            alpha = segment(rgb)
            seconds = time.perf_counter() - start
            for group in ("all", kind):
                scores.setdefault((name, group), Score()).add(alpha, truth, seconds)
            line.append(f"{name}={scores[name, 'all'].ious[-1]:.3f}")
        if verbose:
            print(" ".join(line), flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--every", type=int, default=1, help="every Nth photo (a quick subset)")
    parser.add_argument("--work-side", type=int, default=WORK_SIDE)
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--verbose", action="store_true", help="one line per photo")
    args = parser.parse_args()

    pairs = load_pairs(limit=args.limit)[:: args.every]
    if not pairs:
        raise SystemExit(f"no photos with masks under {DATA}")
    detector = PersonDetector()
    segmenters: dict[str, Segmenter] = {
        "rectangle (5% margin)": lambda rgb: segment_rectangle(
            rgb, work_side=args.work_side, iterations=args.iterations
        ),
        "person prior": lambda rgb: segment_person(
            rgb, detector, work_side=args.work_side, iterations=args.iterations
        ),
    }

    def kind_of(rgb: npt.NDArray[np.uint8]) -> str:
        return person_labels(work_copy(rgb, args.work_side), detector)[1]

    scores = evaluate(segmenters, pairs, kind_of, args.verbose)
    print(
        f"\n{len(pairs)} photos, GrabCut at longer side <= {args.work_side}, {args.iterations} iterations, "
        f"OpenCV {cv2.__version__}, face cascades available: {detector.faces_available}\n"
    )
    print("| GrabCut start | photos | mean IoU@0.5 | median IoU@0.5 | mean abs alpha error | s / photo |")
    print("|---|---|---|---|---|---|")
    for name in segmenters:
        print(scores[name, "all"].row(f"**{name}**"))
    for kind in ("face", "body", "centre"):
        for name in segmenters:
            if (name, kind) in scores:
                print(scores[name, kind].row(f"{name}, photos where the prior found: {kind}"))


if __name__ == "__main__":
    main()
