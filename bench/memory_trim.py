"""Idle RSS of the serving path after load and after a burst of requests, with and without glibc
`malloc_trim(0)` (service/memory_trim.py) and with MALLOC_ARENA_MAX=2.

    .venv/bin/python -m bench.memory_trim [--images 16]

Each configuration runs in a fresh subprocess (the allocator settings are per process): it loads the
MODNet engine as the service does (default runtime), warms it up, then runs `--images` real photos
upscaled to 1080p through the engine + decontamination + RGBA PNG in a 2-thread pool (the service's
CPU pool on a 2-core box), then idles. RSS (VmRSS) in MiB at each point; "trimmed" is after one
`memory_trim.trim()` call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.imaging.matte_scale import matte_at_full_size

CONFIGS = {"glibc default": {}, "MALLOC_ARENA_MAX=2": {"MALLOC_ARENA_MAX": "2"}}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(images: int) -> dict[str, float]:
    import cv2
    import numpy as np

    from bench.grabcut_iou import DATA, load_example, load_pairs
    from model.serving import create_engine
    from service.config import DEFAULT_WEIGHTS
    from service.imaging.encode import render
    from service.imaging.foreground import estimate_foreground
    from service.imaging.options import OutputOptions
    from service.memory_trim import trim

    out = {"start": rss_mib()}
    engine = create_engine(weights_path=DEFAULT_WEIGHTS, device="cpu")
    assert engine is not None
    engine.warmup()
    out["loaded"] = rss_mib()
    trim()
    out["loaded, trimmed"] = rss_mib()
    photos = []
    for _, image_path, mask_path in load_pairs(DATA, limit=images):
        rgb, _ = load_example(image_path, mask_path)
        size = (1920, 1080) if rgb.shape[1] >= rgb.shape[0] else (1080, 1920)
        photos.append(np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)))

    def request(rgb: np.ndarray) -> int:
        alpha = matte_at_full_size(engine, rgb)
        return len(render(rgb, alpha, OutputOptions(), foreground=estimate_foreground(rgb, alpha)).content)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(request, photos))
    del photos
    out["after requests"] = rss_mib()
    trim()
    out["after requests, trimmed"] = rss_mib()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.images)))
        return
    results = {}
    for name, env in CONFIGS.items():
        proc = subprocess.run(
            [sys.executable, "-m", "bench.memory_trim", "--child", "--images", str(args.images)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    points = list(next(iter(results.values())))
    print(f"RSS in MiB ({args.images} 1080p requests: MODNet + decontamination + RGBA PNG, 2 threads):")
    print()
    print("| configuration | " + " | ".join(points) + " |")
    print("|---|" + "---|" * len(points))
    for name, values in results.items():
        print(f"| {name} | " + " | ".join(f"{values[p]:,.0f}" for p in points) + " |")


if __name__ == "__main__":
    main()
