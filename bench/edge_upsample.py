"""Full-resolution edges: the low-resolution MODNet matte brought to the photo's size bilinearly (what
the service did) vs edge-aware (the guided upsampling in service.imaging.guided_filter).

    python -m bench.edge_upsample [--weights model/weights/modnet_people.safetensors] [--limit 40]

On the scene validation photos at full size, against the remove.bg masks (independent binary labels)
and the teacher's soft alpha (the best soft reference there is): mean absolute error overall and in
the boundary band (within 1 % of the short side of the mask's outline), IoU, and the cost of the
upsampling step at 1080p. Ratios first; absolute figures name the hardware.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import torch

from bench.hardware import detect
from model.preprocess import matte_head, network_input_size, predict_same_size
from model.training.data_sources import load_split
from model.training.label_store import LabelStore
from model.training.paths import SHIPPED_WEIGHTS, Locations
from model.training.validation import load_val_photos, photo_scores
from model.weights import load_modnet
from service.contract import Alpha
from service.imaging.guided_filter import guided_upsample
from service.imaging.matte_scale import shrink
from service.imaging.refine import refine_with_trimap

Upsampler = Callable[[npt.NDArray[np.uint8], Alpha], Alpha]


def bilinear(image: npt.NDArray[np.uint8], small: Alpha) -> Alpha:
    height, width = image.shape[:2]
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)


def guided(radius: int, eps: float) -> Upsampler:
    def run(image: npt.NDArray[np.uint8], small: Alpha) -> Alpha:
        return np.clip(guided_upsample(image, small, radius, eps), 0.0, 1.0)

    return run


def then_trimap(upsample: Upsampler) -> Upsampler:
    """`refine=trimap` (service.imaging.refine) after an upsampling."""

    def run(image: npt.NDArray[np.uint8], small: Alpha) -> Alpha:
        return refine_with_trimap(image, upsample(image, small))

    return run


def boundary_band(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    radius = max(2, round(0.01 * min(mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    m = mask.astype(np.uint8)
    return np.asarray(cv2.dilate(m, kernel) != cv2.erode(m, kernel))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", default=str(SHIPPED_WEIGHTS))
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--radius", type=int, default=1, help="the guided variant also run with trimap")
    parser.add_argument("--eps", type=float, default=1e-4)
    args = parser.parse_args()
    net, info = load_modnet(__import__("pathlib").Path(args.weights))
    net.eval()
    size = info.inference_size or 320
    lo, hi = info.alpha_levels or (0.0, 1.0)
    loc = Locations()
    split = load_split(loc)
    photos = load_val_photos(split.val[: args.limit])
    store = LabelStore(loc.cache_dir, loc.teacher_onnx)
    by_key = {p.key: p for p in split.val}
    variants: dict[str, Upsampler] = {"bilinear": bilinear}
    for radius, eps in ((1, 1e-5), (1, 1e-4), (1, 1e-3), (2, 1e-5), (2, 1e-4), (2, 1e-3), (3, 1e-3)):
        variants[f"guided r={radius} eps={eps:g}"] = guided(radius, eps)
    variants["bilinear + refine=trimap"] = then_trimap(bilinear)
    variants[f"guided r={args.radius} eps={args.eps:g} + refine=trimap"] = then_trimap(
        guided(args.radius, args.eps)
    )
    sums: dict[str, dict[str, list[float]]] = {name: {} for name in variants}
    smalls: list[Alpha] = []
    for photo in photos:
        height, width = photo.image.shape[:2]
        # The served way: uint8 area shrink, network, levels (model.preprocess, as the engine runs it).
        low = shrink(photo.image, network_input_size(height, width, size))
        with torch.inference_mode():
            (small,) = predict_same_size(
                matte_head(net), [low], device=torch.device("cpu"), dtype=torch.float32, levels=(lo, hi)
            )
        smalls.append(small)
        teacher = store.teacher_outputs(by_key[photo.key], photo.image)[0]
        mask = photo.person()
        band = boundary_band(mask)
        for name, upsample in variants.items():
            alpha = upsample(photo.image, small)
            iou, mae = photo_scores(alpha, mask)
            record = sums[name]
            for key, value in (
                ("iou", iou),
                ("mae", mae),
                ("band_mae_mask", float(np.abs(alpha - mask)[band].mean())),
                ("band_mae_teacher", float(np.abs(alpha - teacher)[band].mean())),
                ("mae_teacher", float(np.abs(alpha - teacher).mean())),
            ):
                record.setdefault(key, []).append(value)
    # Cost at 1080p: a real photo scaled to 1920x1080, median of repeated runs, interleaved.
    image = np.asarray(cv2.resize(photos[0].image, (1920, 1080), interpolation=cv2.INTER_LINEAR), np.uint8)
    # The first photo's own matte brought to the 1080p input shape: a real soft band, not noise.
    small = np.asarray(cv2.resize(smalls[0], (544, 320), interpolation=cv2.INTER_LINEAR), np.float32)
    cost: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(7):
        for name, upsample in variants.items():
            started = time.perf_counter()
            upsample(image, small)
            cost[name].append(time.perf_counter() - started)
    base = {key: statistics.mean(values) for key, values in sums["bilinear"].items()}
    print(f"# matte upsampling, {len(photos)} scene validation photos at full size, {info.label}")
    print(f"Hardware: {detect().label()}")
    print(
        "| upsampling | band MAE vs teacher (ratio) | band MAE vs mask | MAE vs mask | IoU | "
        "MAE vs teacher | ms at 1080p |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, record in sums.items():
        means = {key: statistics.mean(values) for key, values in record.items()}
        ratio = means["band_mae_teacher"] / base["band_mae_teacher"]
        print(
            f"| {name} | {means['band_mae_teacher']:.4f} ({ratio:.2f}x)"
            f" | {means['band_mae_mask']:.4f} | {means['mae']:.4f} | {means['iou']:.4f} | "
            f"{means['mae_teacher']:.4f} | {statistics.median(cost[name]) * 1000:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
