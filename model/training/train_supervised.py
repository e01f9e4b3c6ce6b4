"""Stage `train`: supervised MODNet training on teacher+mask labels, resumable in chunks.

Each validation scores the EMA weights on the validation split, keeps them as validated/step_N.pt
and the best as best.pt; last.pt is written at every validation and when a chunk's time is up, and
a new invocation with the same run name continues from it (same step count, same future batches).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from model.backbone_init import load_imagenet_backbone
from model.training import checkpoint
from model.training.augment import AugmentConfig
from model.training.config import RUNTIME_SETTINGS, SOC_SETTINGS, TrainConfig
from model.training.data_sources import labelled_training_photos, load_split
from model.training.ema import ModelEma
from model.training.hard_examples import boosts, photo_errors
from model.training.inference import predict_alpha
from model.training.losses import SupervisedLoss, supervised_loss
from model.training.paths import REPO_ROOT, Locations
from model.training.torch_setup import (
    autocast,
    configure_threads,
    cpu_bf16_available,
    freeze_early_backbone,
    lr_at,
    new_network,
    normalise,
    param_groups,
    pick_device,
    set_lr,
    set_train_mode,
)
from model.training.training_data import (
    AugmentedPhotos,
    BatchPlan,
    parse_category_names,
    parse_category_values,
    to_source,
)
from model.training.validation import Scores, ValPhoto, load_val_photos, score
from model.weights import load_weights

Log = Callable[[str], None]


@dataclass
class TrainOutcome:
    step: int
    total_steps: int  # the run's own setting (a resumed run keeps the one it started with)
    finished: bool  # reached cfg.steps (False: the chunk's time ran out first)
    best: Scores | None
    best_step: int
    seconds: float


def supervised_step(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images_u8: torch.Tensor,
    alpha: torch.Tensor,
    cfg: TrainConfig,
) -> SupervisedLoss:
    """One optimisation step on a batch (uint8 images [B,3,H,W], alpha [B,1,H,W] in 0..1), with the
    run's gradient clip, bf16 choice and loss weights."""
    device = next(net.parameters()).device
    images = normalise(images_u8.to(device, non_blocking=True))
    alpha = alpha.to(device, non_blocking=True)
    with autocast(device, cfg.cpu_bf16):
        pred_semantic, pred_detail, pred_matte = net(images, False)
    assert pred_semantic is not None and pred_detail is not None
    wrong_side = {"lost_scale": cfg.lost_foreground_loss, "added_scale": cfg.added_foreground_loss}
    losses = supervised_loss(images, pred_semantic, pred_detail, pred_matte, alpha, **wrong_side)
    optimizer.zero_grad(set_to_none=True)
    losses.total.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
    optimizer.step()
    return losses


def validate(net: torch.nn.Module, photos: list[ValPhoto], size: int) -> Scores:
    return score(lambda image: predict_alpha(net, image, size), photos)


def append_log(run_dir: Path, record: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "log.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")


def resumed_config(stored: dict[str, Any], requested: TrainConfig, log: Log) -> TrainConfig:
    """A resumed run keeps the settings it started with (changing them mid-run would make the
    result depend on where the chunks were cut), except the ones that only affect speed."""
    cfg = run_settings(stored, requested)
    if cfg != requested:
        log(
            f"resuming run {cfg.run!r} with the settings it started with (only {RUNTIME_SETTINGS} may change)"
        )
    return cfg


def run_settings(stored: dict[str, Any] | None, requested: TrainConfig) -> TrainConfig:
    """For later stages: the run's stored settings, with this command's runtime and SOC settings."""
    if not stored:
        return requested
    mine = {name: getattr(requested, name) for name in RUNTIME_SETTINGS + SOC_SETTINGS}
    return TrainConfig(**{**stored, **mine})


def continued_state(source_dir: Path, cfg: TrainConfig, log: Log) -> dict[str, Any]:
    """Phase two of a run: the other run's last checkpoint under this run's settings. Its best score
    was measured under other settings (validation size may differ), so the best starts afresh."""
    path = source_dir / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"continue_from: no checkpoint at {path}")
    state = checkpoint.load(path)
    log(f"continuing from {path} at step {state['step']} with this run's settings")
    return {**state, "config": cfg.as_dict(), "best": None, "best_step": 0}


def train_supervised(cfg: TrainConfig, loc: Locations, log: Log = print) -> TrainOutcome:
    started = time.perf_counter()
    configure_threads(cfg.threads)
    device = pick_device()
    run_dir = loc.run_dir(cfg.run)
    state = checkpoint.load(run_dir / "last.pt") if (run_dir / "last.pt").is_file() else None
    if state is not None:
        cfg = resumed_config(state["config"], cfg, log)
    elif cfg.continue_from:
        state = continued_state(loc.run_dir(cfg.continue_from), cfg, log)
    split = load_split(loc)
    limits = parse_category_values(cfg.category_limits)
    sources = [
        to_source(item, cfg.source_short_side) for item in labelled_training_photos(loc, split, limits)
    ]
    val_photos = load_val_photos(split.val, cfg.val_short_side)

    torch.manual_seed(cfg.seed)  # the heads' random initialisation: a rerun starts from the same weights
    net = new_network()
    # The starting file's version, kept in every checkpoint: the shipped file it names is replaced
    # when these weights ship, so the model card can only name what it was.
    init_version = "" if state is None else str(state.get("init_version", ""))
    if state is not None:
        net.load_state_dict(state["model"])
    elif cfg.init_weights:
        info = load_weights(net, REPO_ROOT / cfg.init_weights)  # an absolute path stays as it is
        init_version = info.version
        log(f"starting from {cfg.init_weights} ({info.name} {info.version})")
    else:
        load_imagenet_backbone(net, loc.backbone_npz)
    freeze_early_backbone(net, cfg.frozen_stages)
    net.to(device)
    ema = ModelEma(net, cfg.ema_decay)
    optimizer = torch.optim.AdamW(param_groups(net, cfg.weight_decay), lr=cfg.lr)
    if cfg.cpu_bf16 and device.type == "cpu" and not cpu_bf16_available():
        log("cpu_bf16: this CPU has no native bf16 (AVX512-BF16/AMX); training in fp32")
    step, best, best_step = 0, None, 0
    if state is not None:
        ema.module.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step, best_step = int(state["step"]), int(state["best_step"])
        best = Scores(**state["best"]) if state["best"] else None
        log(f"resumed at step {step} (best IoU so far {best.iou if best else float('nan'):.4f})")
    ema.module.to(device)

    def save_last() -> None:
        checkpoint.save(
            run_dir / "last.pt",
            {
                "step": step,
                "model": net.state_dict(),
                "ema": ema.module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "best": None if best is None else vars(best),
                "best_step": best_step,
                "config": cfg.as_dict(),
                "init_version": init_version,
                "device": str(device),
                "boost": None if boost is None else torch.from_numpy(boost),
            },
        )

    category_weights = parse_category_values(cfg.category_weights)
    boost = None if state is None or state.get("boost") is None else state["boost"].numpy()

    def batches(start: int) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
        # Built anew whenever mining changes the draws, from the step it takes effect: the batches
        # of a run then depend only on (seed, step, boost), and the boost is in every checkpoint.
        plan = BatchPlan(
            sources,
            cfg.batch_size,
            cfg.train_size,
            cfg.crop_size,
            cfg.whole_fraction,
            cfg.seed,
            start,
            cfg.steps,
            category_weights,
            boost,
            cfg.teacher_only_weight,
        )
        return DataLoader(
            AugmentedPhotos(
                sources,
                cfg.seed,
                AugmentConfig(
                    closeup_zoom_out_p=cfg.closeup_zoom_out_p,
                    zoom_out_categories=parse_category_names(cfg.zoom_out_categories),
                    passer_by_p=cfg.passer_by_p,
                ),
            ),
            batch_sampler=plan,
            num_workers=cfg.workers,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if cfg.workers else None,
        )

    def mine() -> np.ndarray:
        drawn = [category_weights.get(s.category, 1.0) > 0 for s in sources]
        errors = photo_errors(ema.module, sources, cfg.train_size, drawn)  # the EMA is always in eval mode
        mined = boosts(errors, [s.category for s in sources], cfg.hard_mining)
        hardest = np.argsort(np.nan_to_num(errors, nan=-1.0))[::-1][:3]
        names = [sources[i].key for i in hardest]
        log(f"hard examples: boost {mined.min():.2f}-{mined.max():.2f}; hardest {names}")
        return mined

    if cfg.hard_mining > 0 and boost is None and step < cfg.steps:
        boost = mine()  # a run that starts from trained weights knows its hard photos already
    deadline = started + cfg.chunk_minutes * 60 if cfg.chunk_minutes > 0 else float("inf")
    set_train_mode(net, cfg.freeze_backbone_bn, freeze_all_norms=cfg.freeze_norms)
    window: list[float] = []
    out_of_time = False
    while step < cfg.steps and not out_of_time:
        for images_u8, alpha in batches(step):
            set_lr(optimizer, lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_fraction))
            losses = supervised_step(net, optimizer, images_u8, alpha, cfg)
            step += 1
            ema.update(net, step)
            window.append(float(losses.total.detach()))
            if step % 10 == 0 or step == cfg.steps:
                record = {
                    "stage": "train",
                    "step": step,
                    "loss": sum(window) / len(window),
                    "semantic": float(losses.semantic.detach()),
                    "detail": float(losses.detail.detach()),
                    "matte": float(losses.matte.detach()),
                    "lost": float(losses.lost.detach()),
                    "added": float(losses.added.detach()),
                    "shape": list(images_u8.shape),
                    "elapsed_s": round(time.perf_counter() - started, 1),
                }
                append_log(run_dir, record)
                log(json.dumps(record))
                window.clear()
            validated = step % cfg.val_every == 0 or step == cfg.steps
            if validated:
                scores = validate(ema.module, val_photos, cfg.val_size)
                append_log(run_dir, {"stage": "val", "step": step, "iou": scores.iou, "mae": scores.mae})
                log(f"step {step}: val IoU {scores.iou:.4f} MAE {scores.mae:.4f}")
                validated_state = {
                    "step": step,
                    "ema": ema.module.state_dict(),
                    "scores": vars(scores),
                    "config": cfg.as_dict(),
                }
                # Every validated EMA is kept: this validation (shrunk scene photos) misranked
                # checkpoints that the full-size, every-category report orders differently (run c13).
                checkpoint.save(run_dir / "validated" / f"step_{step}.pt", validated_state)
                if scores.better_than(best):
                    best, best_step = scores, step
                    checkpoint.save(run_dir / "best.pt", validated_state)
                if cfg.hard_mining > 0 and step < cfg.steps:
                    boost = mine()
                save_last()
            if time.perf_counter() > deadline:
                save_last()
                log(f"chunk time is up at step {step}; run the same command again to continue")
                out_of_time = True
                break
            if validated and cfg.hard_mining > 0:
                break  # the next batches are drawn with the new boost
    seconds = time.perf_counter() - started
    return TrainOutcome(step, cfg.steps, step >= cfg.steps, best, best_step, seconds)
