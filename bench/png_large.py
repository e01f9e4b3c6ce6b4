"""RGBA PNG writers on a big cut-out (above fpng's cap in service/imaging/png.py) and at 1080p.

    .venv/bin/python -m bench.png_large [--repeat 5]

The cut-out: a real photo from ../shared (upscaled to 4000x3000 = 12 MP and to 1920x1080) with its
remove.bg mask softened, colour cleared under alpha 0, exactly as `render` builds it. Writers:
Pillow compress_level=1 (the old path above the cap), fpng (holds the GIL; used up to the cap) and
service/imaging/png_isal (the new path above the cap). Interleaved, medians; ratio of CPU time of
the calling thread first (wall time swings with the other load on a shared box), then output size,
then how much a pure-Python thread got done meanwhile relative to idle (1.0 = the GIL was free).
Every output is decoded back and compared with the pixels.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from bench.grabcut_iou import DATA, load_pairs
from bench.report import table
from bench.runtime_compare import cpu_label
from service.imaging import png_isal
from service.imaging.blend import cut_out

SIZES = {"12 MP (4000x3000)": (4000, 3000), "1080p (1920x1080)": (1920, 1080)}


def cut_out_at(size: tuple[int, int]) -> Image.Image:
    _, image_path, mask_path = load_pairs(DATA, limit=1)[0]
    photo = Image.open(image_path).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    matte = Image.open(mask_path).convert("L").resize(size, Image.Resampling.BILINEAR)
    alpha8 = np.asarray(matte.filter(ImageFilter.GaussianBlur(3)))
    return Image.fromarray(cut_out(np.asarray(photo), alpha8))


def writers(image: Image.Image) -> dict[str, Callable[[], bytes]]:
    def pillow() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=1)
        return buffer.getvalue()

    out: dict[str, Callable[[], bytes]] = {"Pillow compress_level=1": pillow}
    try:
        import fpng

        out["fpng 0.1"] = lambda: bytes(fpng.from_ndarray(np.asarray(image)))
    except ImportError:
        pass
    out["png_isal (Up + ISA-L level 1)"] = lambda: png_isal.encode(np.asarray(image))
    return out


def python_progress(fn: Callable[[], bytes]) -> float:
    """Iterations per second of a pure-Python loop in another thread while `fn` runs, over idle."""
    count, stop = [0], threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    def rate(work: Callable[[], object]) -> float:
        count[0] = 0
        stop.clear()
        thread = threading.Thread(target=spin)
        thread.start()
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join()
        return count[0] / elapsed

    idle = rate(lambda: time.sleep(0.2))
    return rate(fn) / idle


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for label, size in SIZES.items():
        image = cut_out_at(size)
        pixels = np.asarray(image)
        variants = writers(image)
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        sizes: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, fn in variants.items():
                started, started_cpu = time.perf_counter(), time.thread_time()
                data = fn()
                cpu[name].append(time.thread_time() - started_cpu)
                wall[name].append(time.perf_counter() - started)
                sizes[name] = len(data)
        for name, fn in variants.items():
            decoded = np.asarray(Image.open(io.BytesIO(fn())))
            assert np.array_equal(decoded, pixels), f"{name} did not round-trip"
        base = statistics.median(cpu["Pillow compress_level=1"])
        rows = [
            [
                name,
                f"{base / statistics.median(cpu[name]):.1f}x",
                statistics.median(cpu[name]) * 1000,
                statistics.median(wall[name]) * 1000,
                f"{sizes[name] / 1e6:.2f}",
                f"{python_progress(fn):.2f}",
            ]
            for name, fn in variants.items()
        ]
        print(
            f"RGBA PNG, {label}, median of {args.repeat}, interleaved; {cpu_label()}, "
            f"load average {os.getloadavg()[0]:.1f}:"
        )
        print()
        headers = ["writer", "speed-up vs Pillow (CPU)", "CPU ms", "wall ms", "MB", "Python thread meanwhile"]
        print(table(headers, rows))
        print()


if __name__ == "__main__":
    main()
