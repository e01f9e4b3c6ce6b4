"""Flip averaging (`BGREMOVE_FLIP_AVERAGE`): MODNet also run on each photo mirrored, the two mattes
averaged, against the network run once.

    python -m bench.flip_average [--weights model/weights/modnet_people.safetensors]

Every held-out photo (scenes with remove.bg masks, close portraits, hair photos) at full size, through
the service's engine and upsampling, with the training report's measures (IoU, MAE, lost foreground,
stray blobs, hair kept); then the engine's cost for one 1080p photo (its 320-px network input),
median of interleaved runs. Needs ../shared. Ratios first; absolute figures name the hardware.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from bench.hardware import detect
from model.serving import ModnetEngine, create_engine
from model.training.data_sources import load_split
from model.training.failure_report import by_category, markdown, measure_photos, on_image, rows_of
from model.training.paths import SHIPPED_WEIGHTS, Locations
from model.training.photos import SCENE
from model.training.validation import load_val_photos
from service.imaging.matte_scale import matte_at_full_size, shrink


def engine_for(weights: Path, flip_average: bool) -> ModnetEngine:
    # One photo per call, as the report scores; fp32 on CPU with the runtime the service would pick.
    engine = create_engine(weights_path=weights, device="cpu", max_batch_size=1, flip_average=flip_average)
    if engine is None:
        raise SystemExit(f"no weights at {weights}")
    return engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS)
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per variant")
    args = parser.parse_args()
    split = load_split(Locations())
    photos = load_val_photos(split.val + split.other_val)
    engines = {"once": engine_for(args.weights, False), "flip averaged": engine_for(args.weights, True)}
    rows = []
    for name, engine in engines.items():
        results = measure_photos(on_image(partial(matte_at_full_size, engine)), photos)
        rows += rows_of(f"MODNet {engine.info.version}, {name} (runtime {engine.runtime})", results)
    table = by_category(rows)
    # The engine's own cost for a 1080p photo: its network input, the shrink already done.
    scene = next(p for p in photos if p.category == SCENE).image
    photo = np.asarray(cv2.resize(scene, (1920, 1080), interpolation=cv2.INTER_AREA), np.uint8)
    small = shrink(photo, engines["once"].input_size(1080, 1920))
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for engine in engines.values():
        engine.predict_batch([small])  # warm
    for _ in range(args.repeats):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.predict_batch([small])
            seconds[name].append(time.perf_counter() - started)
    once, flipped = (statistics.median(seconds[name]) for name in engines)
    before, after = (row for row in table if row.category == SCENE)
    print(f"# flip averaging, {len(photos)} held-out photos at full size, {args.weights}")
    print(f"Hardware: {detect().label()}")
    print(
        f"Scene IoU {before.iou:.4f} -> {after.iou:.4f} (ratio {after.iou / before.iou:.4f}), "
        f"MAE {before.mae:.4f} -> {after.mae:.4f} (ratio {after.mae / before.mae:.3f}); engine time for "
        f"a 1080p photo {once * 1000:.0f} -> {flipped * 1000:.0f} ms (ratio {flipped / once:.2f})"
    )
    print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
