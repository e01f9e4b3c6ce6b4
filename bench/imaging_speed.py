"""Cost of the edge-quality steps at 1080p and 4K: colour decontamination, refine=trimap, and the
whole GrabCut engine (which works at 384 px but feathers its edges at full resolution);
`bench/imaging_codecs.py` times decoding and encoding. Results in docs/benchmarks.md.

    .venv/bin/python -m bench.imaging_speed [--repeat 5]

Two mattes per size: a portrait (an ellipse with a blurry edge, as a network run at 512 px gives
after upsampling: the usual case) and a worst case where every pixel is semi-transparent (no
cropping to the subject helps). Prints the median of `--repeat` runs, single-threaded OpenCV so
the number is per worker, not per machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from service.engines.grabcut import GrabCutEngine
from service.imaging.foreground import estimate_foreground
from service.imaging.refine import refine_with_trimap

SIZES = {"1080p": (1080, 1920), "4K": (2160, 3840)}


def photo(h: int, w: int) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


def portrait_matte(h: int, w: int) -> npt.NDArray[np.float32]:
    hard = np.zeros((h, w), np.float32)
    cv2.ellipse(hard, (w // 2, h), (w // 4, int(0.8 * h)), 0, 180, 360, 1.0, -1)
    blur = max(1.0, min(h, w) / 512 * 2)  # the edge of a 512-px prediction scaled up
    return np.asarray(cv2.GaussianBlur(hard, (0, 0), blur), dtype=np.float32)


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print("| step | matte | " + " | ".join(SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    cases: dict[str, Callable[[int, int], npt.NDArray[np.float32]]] = {
        "portrait": portrait_matte,
        "all soft (worst case)": lambda h, w: np.full((h, w), 0.5, np.float32),
    }
    steps: dict[str, Callable[[npt.NDArray[np.uint8], npt.NDArray[np.float32]], object]] = {
        "estimate_foreground": estimate_foreground,
        "refine_with_trimap": refine_with_trimap,
    }
    for step_name, step in steps.items():
        for case_name, matte in cases.items():
            cells = []
            for h, w in SIZES.values():
                rgb, alpha = photo(h, w), matte(h, w)
                cells.append(f"{median_seconds(lambda: step(rgb, alpha), args.repeat) * 1000:.0f} ms")  # noqa: B023
            print(f"| {step_name} | {case_name} | " + " | ".join(cells) + " |")
    engine = GrabCutEngine()
    engine.warmup()
    cells = []
    for h, w in SIZES.values():
        rgb = photo(h, w)
        cells.append(f"{median_seconds(lambda: engine.predict_batch([rgb]), args.repeat) * 1000:.0f} ms")  # noqa: B023
    print("| GrabCutEngine.predict_batch, one photo | - | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
