"""MODNet CPU runtimes compared at the serving shapes: speed of the forward pass and equality of the
mattes, with the shipped weights on real photos.

    .venv/bin/python -m bench.runtime_compare [--photos 10] [--repeat 7] [--compile]

Variants: torch eager fp32 (the reference), torch eager with bf16 autocast, ONNX Runtime (graph
exported by model/onnx_runtime.py from the same weights) and, with --compile, `torch.compile`
(inductor; minutes of compilation per shape on a 2-core box, so off by default).

Each photo of ../shared/data/people/segmentation-remove-bg is resized to the serving shape of its
orientation (320x544 landscape as 1080p gives at inference size 320, 544x320 portrait, 320x320
square-ish), so the network sees exactly those shapes. Timing: the forward pass alone (batch 1),
variants interleaved within each repetition so that the load of the shared machine hits them all
alike; medians. Quality: the engine's alpha (levels stretched, clamped) of each variant against
eager fp32's: max |delta alpha| over all photos, and IoU@0.5 against the remove.bg masks.
Ratios come first (they survive a busy machine); absolute ms are labelled with the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import torch

from bench.grabcut_iou import DATA, iou, load_example, load_pairs
from bench.hardware import cpu_model
from bench.report import log, table
from model.modnet import MODNet
from model.onnx_runtime import load_onnx_modnet
from model.serving import ModnetEngine
from model.weights import load_modnet
from service.config import DEFAULT_WEIGHTS
from service.imaging.matte_scale import matte_at_full_size

Forward = Callable[[torch.Tensor], torch.Tensor]
SHAPES = {"landscape": (320, 544), "portrait": (544, 320), "square": (320, 320)}
REFERENCE = "torch eager fp32"
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def cpu_label() -> str:
    """lscpu's model name plus the flags that decide which kernels run."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    name = fields.get("Model name", "").strip() or cpu_model()
    flags = set(fields.get("Flags", "").split())
    present = [f for f in CPU_FLAGS if f in flags]
    return f"{name}, {len(os.sched_getaffinity(0))} cores, flags: {' '.join(present) or 'unknown'}"


def shape_for(height: int, width: int) -> tuple[int, int]:
    aspect = width / height
    return SHAPES["landscape"] if aspect > 1.25 else SHAPES["portrait"] if aspect < 0.8 else SHAPES["square"]


def load_photos(count: int) -> list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]:
    pairs = load_pairs(DATA)
    if not pairs:
        raise SystemExit(f"no photos with masks under {DATA}")
    photos = []
    for _, image_path, mask_path in pairs[:count]:
        rgb, mask = load_example(image_path, mask_path)
        h, w = shape_for(*rgb.shape[:2])
        small = np.ascontiguousarray(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        photos.append((small, mask))
    return photos


def build_variants(
    net: MODNet, with_compile: bool, cache_dir: Path | None
) -> dict[str, tuple[Forward, bool]]:
    """name -> (forward on a [-1, 1] batch, whether the engine runs it under bf16 autocast)."""

    def eager(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = net(x, inference=True)[2]
        return out

    variants: dict[str, tuple[Forward, bool]] = {
        REFERENCE: (eager, False),
        "torch eager bf16 autocast": (eager, True),
    }
    started = time.perf_counter()
    variants["onnxruntime fp32"] = (load_onnx_modnet(net, cache_dir=cache_dir), False)
    log(f"ONNX export/load: {time.perf_counter() - started:.1f} s")
    if with_compile:
        compiled = torch.compile(eager, dynamic=False)
        variants["torch.compile (inductor) fp32"] = (compiled, False)
    return variants


def run(forward: Forward, bf16: bool, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return forward(x).float()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compile", action="store_true", help="include torch.compile (slow to compile)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--cache-dir", type=Path, default=None, help="ONNX export cache (default: XDG)")
    args = parser.parse_args()

    net, info = load_modnet(args.weights)
    net = net.float().eval().requires_grad_(False)
    size = info.inference_size or 320
    variants = build_variants(net, args.compile, args.cache_dir)
    photos = load_photos(args.photos)

    # Quality: each variant through the engine (same pre/post-processing), against eager fp32.
    alphas: dict[str, list[npt.NDArray[np.float32]]] = {}
    for name, (forward, bf16) in variants.items():
        started = time.perf_counter()
        engine = ModnetEngine(
            net, info, device=torch.device("cpu"), inference_size=size, cpu_bf16=bf16, forward=forward
        )
        alphas[name] = [matte_at_full_size(engine, rgb) for rgb, _ in photos]
        log(f"{name}: {len(photos)} photos in {time.perf_counter() - started:.1f} s (includes compilation)")
    reference = alphas[REFERENCE]
    quality = {
        name: (
            max(float(np.abs(a - r).max()) for a, r in zip(found, reference, strict=True)),
            statistics.fmean(iou(a, mask) for a, (_, mask) in zip(found, photos, strict=True)),
        )
        for name, found in alphas.items()
    }

    # Speed: the forward pass alone, per shape, variants interleaved.
    inputs = {
        label: torch.from_numpy(next((rgb for rgb, _ in photos if rgb.shape[:2] == shape), photos[0][0]))
        for label, shape in SHAPES.items()
    }
    batches = {
        label: ((img.permute(2, 0, 1)[None].float() / 255.0 - 0.5) / 0.5).contiguous()
        for label, img in inputs.items()
    }
    batches = {
        label: torch.nn.functional.interpolate(b, size=SHAPES[label], mode="area")
        for label, b in batches.items()
    }
    times: dict[tuple[str, str], list[float]] = {(n, s): [] for n in variants for s in SHAPES}
    for forward, bf16 in variants.values():  # warm-up: first-call costs out of the medians
        for batch in batches.values():
            run(forward, bf16, batch)
    for rep in range(args.repeat):
        for label, batch in batches.items():
            for name, (forward, bf16) in variants.items():
                started = time.perf_counter()
                run(forward, bf16, batch)
                times[(name, label)].append(time.perf_counter() - started)
        log(f"repetition {rep + 1}/{args.repeat}")
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}

    shape_names = [f"{h}x{w}" for h, w in SHAPES.values()]
    rows = []
    for name in variants:
        ratios = [ms[(REFERENCE, s)] / ms[(name, s)] for s in SHAPES]
        rows.append(
            [name, *[f"{r:.2f}x" for r in ratios], f"{quality[name][0]:.4f}", f"{quality[name][1]:.4f}"]
        )
    print(
        f"Speed-up of the forward pass vs {REFERENCE} (median of {args.repeat}, interleaved), and mattes on"
    )
    print(f"{len(photos)} real photos (max |delta alpha| vs {REFERENCE}; mean IoU@0.5 vs remove.bg masks):")
    print()
    print(table(["variant", *[f"speed-up {s}" for s in shape_names], "max |Δalpha|", "IoU@0.5"], rows))
    print()
    print(
        f"Absolute forward ms (median) on {cpu_label()}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}:"
    )
    print()
    print(
        table(
            ["variant", *[f"ms {s}" for s in shape_names]],
            [[n, *[ms[(n, s)] for s in SHAPES]] for n in variants],
        )
    )


if __name__ == "__main__":
    main()
