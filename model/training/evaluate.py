"""Stage `eval`: the validation split scored for the MODNet weights, the teacher and GrabCut.

MODNet runs through the service's own engine (`model.serving.ModnetEngine`: same resize rule,
fp16 on CUDA), so the numbers are what the service delivers; photos are scored at full size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.training import checkpoint
from model.training.config import TrainConfig
from model.training.data_sources import load_split
from model.training.failure_report import (
    CategoryRow,
    PhotoAlphaFn,
    PhotoGap,
    PhotoResult,
    by_category,
    category_rows,
    measure_photos,
    on_image,
    rows_of,
    widest_changes,
    widest_gaps,
)
from model.training.label_store import LabelStore
from model.training.paths import Locations
from model.training.photos import Photo
from model.training.validation import AlphaFn, Scores, ValPhoto, load_val_photos, photo_scores
from service.imaging.matte_scale import matte_at_full_size

Image = npt.NDArray[np.uint8]


@dataclass
class Row:
    method: str
    iou: float
    mae: float
    seconds_per_image: float | None  # None: not timed (the teacher's outputs are cached labels)


def chosen_checkpoint(run_dir: Path) -> tuple[dict[str, Any], str]:
    """The run's weights to ship: SOC's best when SOC improved on supervised, else supervised best."""
    best = checkpoint.load(run_dir / "best.pt")
    soc_path = run_dir / "soc_best.pt"
    if soc_path.is_file():
        soc = checkpoint.load(soc_path)
        if Scores(**soc["scores"]).better_than(Scores(**best["scores"])):
            return soc, f"SOC step {soc['step']} after supervised step {best['step']}"
    return best, f"supervised EMA, step {best['step']}"


def grabcut_alpha_fn() -> tuple[AlphaFn, str]:
    """The service's GrabCut engine when it exists, else plain GrabCut from a border rectangle."""
    try:
        from service.engines.grabcut import GrabCutEngine
    except ImportError:
        import cv2

        def rectangle(image: Image) -> npt.NDArray[np.float32]:
            height, width = image.shape[:2]
            mask = np.zeros((height, width), np.uint8)
            rect = (max(1, width // 20), max(1, height // 20), width - width // 10, height - height // 10)
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(image, mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
            return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)

        return rectangle, "GrabCut (border rectangle)"
    engine = GrabCutEngine()
    return (lambda image: engine.predict_batch([image])[0]), "GrabCut (service engine)"


def _row(method: str, alpha_fn: AlphaFn, photos: list[ValPhoto]) -> Row:
    scores, seconds = [], 0.0
    for photo in photos:
        start = time.perf_counter()
        alpha = alpha_fn(photo.image)
        seconds += time.perf_counter() - start
        scores.append(photo_scores(alpha, photo.person()))
    iou, mae = (float(np.mean(values)) for values in zip(*scores, strict=True))
    return Row(method, iou, mae, seconds / len(photos))


def modnet_alpha_fn(cfg: TrainConfig, loc: Locations, size: int, weights: Path | None) -> tuple[AlphaFn, str]:
    from model.serving import ModnetEngine, create_engine
    from model.training.torch_setup import new_network, pick_device
    from model.training.train_supervised import run_settings
    from model.weights import ModelInfo

    engine: ModnetEngine | None
    if weights is not None:
        # Exactly as the service loads the file: its inference size and alpha levels, fp32 on CPU.
        engine = create_engine(weights_path=weights, inference_size=size, max_batch_size=1)
        if engine is None:
            raise FileNotFoundError(weights)
        label = f"MODNet {engine.info.name}-{engine.info.version} ({weights.name})"
    else:
        run_dir = loc.run_dir(cfg.run)
        state, source = chosen_checkpoint(run_dir)
        size = size or run_settings(checkpoint.load(run_dir / "best.pt").get("config"), cfg).train_size
        net = new_network()
        net.load_state_dict(state["ema"])
        info = ModelInfo(name="modnet-people", version=f"run-{cfg.run}", sha256_prefix="checkpoint")
        engine = ModnetEngine(net, info, device=pick_device(), inference_size=size, max_batch_size=1)
        label = f"MODNet run {cfg.run} ({source})"
    return (
        lambda image: matte_at_full_size(engine, image)
    ), f"{label}, inference size {engine.inference_size}"


def evaluate_all(cfg: TrainConfig, loc: Locations, size: int, weights: Path | None = None) -> list[Row]:
    split = load_split(loc)
    photos = load_val_photos(split.val)  # full size: what users upload
    store = LabelStore(loc.cache_dir, loc.teacher_onnx)
    by_key = {photo.key: photo for photo in split.val}

    def teacher(image: Image, key: str) -> npt.NDArray[np.float32]:
        return store.teacher_outputs(by_key[key], image)[0]

    modnet_fn, modnet_label = modnet_alpha_fn(cfg, loc, size, weights)
    grabcut_fn, grabcut_label = grabcut_alpha_fn()
    teacher_scores = [photo_scores(teacher(p.image, p.key), p.person()) for p in photos]
    teacher_row = Row(
        "Teacher: RVM MobileNetV3 (GPL-3.0, not shipped)",
        float(np.mean([s[0] for s in teacher_scores])),
        float(np.mean([s[1] for s in teacher_scores])),
        None,
    )
    return [_row(modnet_label, modnet_fn, photos), teacher_row, _row(grabcut_label, grabcut_fn, photos)]


def _teacher_fn(loc: Locations, photos: list[Photo]) -> PhotoAlphaFn:
    """The teacher's cached matte for a held-out photo, looked up by its key."""
    store = LabelStore(loc.cache_dir, loc.teacher_onnx)
    by_key = {photo.key: photo for photo in photos}
    return lambda photo: store.teacher_outputs(by_key[photo.key], photo.image)[0]


def category_report(
    cfg: TrainConfig, loc: Locations, size: int, weights: Path | None = None, with_baselines: bool = True
) -> list[CategoryRow]:
    """Per-category failure table (model.training.failure_report) on every held-out photo: scene,
    portrait and hair, for the weights and, with baselines, the teacher and GrabCut beside them."""
    rows, _ = held_out_report(cfg, loc, size, weights, with_baselines)
    return rows


def held_out_report(
    cfg: TrainConfig,
    loc: Locations,
    size: int,
    weights: Path | None = None,
    with_baselines: bool = True,
    worst: int = 0,
    against: Path | None = None,
) -> tuple[list[CategoryRow], list[PhotoGap]]:
    """`category_report`'s rows and the `worst` photos with a person mask where the weights trail
    the teacher most, from one pass of the weights (and of the teacher) over the held-out photos.
    With `against` (a weights file, e.g. the shipped one, scored at its own inference size) its rows
    join the table and the photos listed are those whose IoU moved most between it and the weights."""
    split = load_split(loc)
    held_out = split.val + split.other_val
    photos = load_val_photos(held_out)
    modnet_fn, modnet_label = modnet_alpha_fn(cfg, loc, size, weights)
    ours = measure_photos(on_image(modnet_fn), photos)
    rows = rows_of(modnet_label, ours)
    reference: list[PhotoResult] = []
    if against is not None:
        reference_fn, reference_label = modnet_alpha_fn(cfg, loc, 0, against)
        reference = measure_photos(on_image(reference_fn), photos)
        rows += rows_of(f"reference: {reference_label}", reference)
    needs_teacher = with_baselines or (worst > 0 and against is None)
    teacher = measure_photos(_teacher_fn(loc, held_out), photos) if needs_teacher else []
    if with_baselines:
        grabcut_fn, grabcut_label = grabcut_alpha_fn()
        rows += rows_of("Teacher: RVM MobileNetV3 (not shipped)", teacher, timed=False)
        rows += category_rows(grabcut_label, on_image(grabcut_fn), photos)
    if against is not None:
        return by_category(rows), widest_changes(ours, reference, worst)
    return by_category(rows), widest_gaps(ours, teacher, worst)


def size_sweep(cfg: TrainConfig, loc: Locations, weights: Path, sizes: list[int]) -> list[Row]:
    """The same weights scored at several inference sizes: the evidence for the size they ship with."""
    photos = load_val_photos(load_split(loc).val)
    rows = []
    for size in sizes:
        alpha_fn, label = modnet_alpha_fn(cfg, loc, size, weights)
        rows.append(_row(label, alpha_fn, photos))
    return rows


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| method | IoU@0.5 ↑ | mean abs. alpha error ↓ | s / image (this machine) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        seconds = "—" if row.seconds_per_image is None else f"{row.seconds_per_image:.2f}"
        lines.append(f"| {row.method} | {row.iou:.4f} | {row.mae:.4f} | {seconds} |")
    return "\n".join(lines)
