"""Colour decontamination before/after issue 17 on real 1080p portraits: the old dense computation
(bench/foreground_dense.py) against `service.imaging.foreground.estimate_foreground`, which runs its
full-resolution level on the soft band's tiles only.

    .venv/bin/python -m bench.decontamination_speed [--photos 6] [--repeat 5]

Photos from ../shared/data/people/segmentation-remove-bg are upscaled to 1920x1080 (landscape) or
1080x1920 (portrait), their mattes are the shipped MODNet's (the service's engine, CPU), so the
soft band is the one the service really sees. Old and new run interleaved on each photo; the ratio
of medians per photo comes first, absolute ms are labelled with the CPU. Single-threaded OpenCV, as
in bench.imaging_speed (the number is per worker). Also checks that the two agree on the band.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from bench.foreground_dense import estimate_foreground_dense
from bench.grabcut_iou import DATA, load_example, load_pairs
from bench.report import log, table
from bench.runtime_compare import cpu_label
from model.serving import create_engine
from service.config import DEFAULT_WEIGHTS
from service.imaging.foreground import estimate_foreground, soft_band
from service.imaging.matte_scale import matte_at_full_size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engine = create_engine(weights_path=DEFAULT_WEIGHTS, device="cpu")
    if engine is None:
        raise SystemExit(f"no weights at {DEFAULT_WEIGHTS}")
    pairs = load_pairs(DATA, limit=args.photos)
    if not pairs:
        raise SystemExit(f"no photos under {DATA}")
    cv2.setNumThreads(1)
    rows = []
    ratios = []
    for name, image_path, mask_path in pairs:
        rgb, _ = load_example(image_path, mask_path)
        size = (1920, 1080) if rgb.shape[1] >= rgb.shape[0] else (1080, 1920)
        rgb = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC))
        alpha = matte_at_full_size(engine, rgb)
        soft = soft_band(alpha)  # where the output alpha byte is neither 0 nor 255
        cpu: dict[str, list[float]] = {"old": [], "new": []}
        wall: dict[str, list[float]] = {"old": [], "new": []}
        results = {}
        for _ in range(args.repeat):
            for label, fn in (("old", estimate_foreground_dense), ("new", estimate_foreground)):
                started, started_cpu = time.perf_counter(), time.thread_time()
                results[label] = fn(rgb, alpha)
                cpu[label].append(time.thread_time() - started_cpu)
                wall[label].append(time.perf_counter() - started)
        # The difference as shown: colour times alpha (where alpha is a few hundredths F is barely
        # determined, and the two estimates may differ there by many levels that nobody sees).
        shown = np.abs(results["new"].astype(np.float32) - results["old"]) * alpha[..., None]
        diff = float(shown[soft].max())
        ms = {
            f"{kind} {label}": statistics.median(d[label]) * 1000
            for kind, d in (("cpu", cpu), ("wall", wall))
            for label in d
        }
        cpu_ratio, wall_ratio = ms["cpu new"] / ms["cpu old"], ms["wall new"] / ms["wall old"]
        ratios.append(cpu_ratio)
        rows.append(
            [
                f"{name}.jpg {size[0]}x{size[1]}",
                f"{soft.mean():.3f}",
                f"{cpu_ratio:.2f}x",
                f"{wall_ratio:.2f}x",
                ms["cpu old"],
                ms["cpu new"],
                ms["wall old"],
                ms["wall new"],
                f"{diff:.1f}",
            ]
        )
        log(f"{name}: CPU {ms['cpu old']:.0f} -> {ms['cpu new']:.0f} ms")
    print(
        f"Decontamination cost, new / old (median of {args.repeat}, interleaved): median CPU-time ratio "
        f"{statistics.median(ratios):.2f}x. CPU time of the calling thread (wall time swings with the "
        f"other load on a shared box) and wall ms on {cpu_label()}, OpenCV 1 thread, "
        f"load average {os.getloadavg()[0]:.1f}:"
    )
    print()
    headers = ["photo", "soft px", "new/old CPU", "new/old wall", "old CPU ms", "new CPU ms", "old wall ms"]
    print(table([*headers, "new wall ms", "max |diff| x alpha in band"], rows))


if __name__ == "__main__":
    main()
