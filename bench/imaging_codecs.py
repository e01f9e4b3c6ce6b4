"""Cost of decoding and of every output format at 1920x1080 (`bench/imaging_speed.py` times the
edge-quality steps); results in docs/benchmarks.md.

    .venv/bin/python -m bench.imaging_codecs [--repeat 7]

Uses a real photo and a real remove.bg mask from ../shared (resized to 1080p, the mask blurred
into a soft matte) so compression ratios are realistic; falls back to synthetic inputs without it.
Prints the median of `--repeat` runs per line, CPU time of the calling thread and wall time.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from bench.images import PEOPLE, cover_resize, jpeg_bytes, synthetic_photo
from service.imaging import png
from service.imaging.decode import decode_image
from service.imaging.encode import render
from service.imaging.options import ImageFormat, OutputKind, OutputOptions
from service.imaging.png import FAST_PNG_AVAILABLE, encode_png

SIZE = (1920, 1080)
LABELLED = PEOPLE / "segmentation-remove-bg"


def inputs() -> tuple[np.ndarray, np.ndarray, str]:
    photo, mask = LABELLED / "images" / "10.jpg", LABELLED / "masks" / "10.png"
    if photo.exists() and mask.exists():
        rgb = np.asarray(cover_resize(Image.open(photo).convert("RGB"), *SIZE))
        matte = cover_resize(Image.open(mask).convert("L"), *SIZE).filter(ImageFilter.GaussianBlur(3))
        return rgb, np.asarray(matte, dtype=np.float32) / 255.0, f"photo {photo.name} + mask"
    rgb = np.asarray(synthetic_photo(*SIZE, seed=0))
    yy, xx = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    alpha = np.clip(1.5 - np.hypot((yy - 540) / 400, (xx - 960) / 300), 0, 1).astype(np.float32)
    return rgb, alpha, "synthetic (../shared missing)"


def timed(fn: Callable[[], bytes | object], repeat: int) -> tuple[float, float, int]:
    """(median wall ms, median CPU ms of this thread, output bytes). On a shared box the CPU time is
    the stable figure: every codec here runs in the calling thread, so it is the cost per request."""
    result = fn()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.thread_time()
        result = fn()
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
    size = len(result) if isinstance(result, bytes) else len(getattr(result, "content", b""))
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    rgb, alpha, source = inputs()
    jpeg = jpeg_bytes(Image.fromarray(rgb), quality=90)
    rgba = np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)])
    rgba[rgba[..., 3] == 0, :3] = 0

    def pillow_png(level: int) -> Callable[[], bytes]:
        def run() -> bytes:
            buffer = io.BytesIO()
            Image.fromarray(rgba).save(buffer, "PNG", compress_level=level)
            return buffer.getvalue()

        return run

    rows: list[tuple[str, Callable[[], object]]] = [
        ("decode 1080p JPEG q90", lambda: decode_image(jpeg, max_pixels=40_000_000)),
        ("render mask PNG", lambda: render(rgb, alpha, OutputOptions(output=OutputKind.MASK))),
        ("render rgba PNG", lambda: render(rgb, alpha, OutputOptions())),
        ("render rgba WebP (lossless)", lambda: render(rgb, alpha, OutputOptions(format=ImageFormat.WEBP))),
        (
            "render composite JPEG",
            lambda: render(rgb, alpha, OutputOptions(output=OutputKind.COMPOSITE, format=ImageFormat.JPEG)),
        ),
        (
            "render composite WebP (lossy)",
            lambda: render(rgb, alpha, OutputOptions(output=OutputKind.COMPOSITE, format=ImageFormat.WEBP)),
        ),
        ("render zip", lambda: render(rgb, alpha, OutputOptions(output=OutputKind.ZIP))),
        ("  RGBA PNG: Pillow compress_level=1", pillow_png(1)),
        ("  RGBA PNG: Pillow compress_level=6", pillow_png(6)),
        (
            "  RGBA PNG: encode_png (fpng)" if FAST_PNG_AVAILABLE else "  (fpng not installed)",
            lambda: encode_png(Image.fromarray(rgba)),
        ),
    ]
    print(f"1920x1080, {source}, median of {repeat}; jpeg input {len(jpeg) / 1e6:.2f} MB")
    for name, fn in rows:
        _report(name, *timed(fn, repeat))
    fast_writer, png._fpng = png._fpng, None  # the fallback path, as without fpng installed
    try:
        _report("render rgba PNG, Pillow fallback", *timed(rows[2][1], repeat))
    finally:
        png._fpng = fast_writer


def _report(name: str, wall_ms: float, cpu_ms: float, size: int) -> None:
    megabytes = f"{size / 1e6:6.2f} MB" if size else ""
    print(f"{name:40s} {cpu_ms:8.1f} ms CPU {wall_ms:8.1f} ms wall  {megabytes}")


if __name__ == "__main__":
    main()
