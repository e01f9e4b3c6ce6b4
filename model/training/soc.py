"""Stage `soc`: self-supervised sub-objective consistency (SOC) adaptation on unlabelled photos.

Starts from the supervised run's best EMA weights, keeps a frozen copy of them as the reference
does (it anchors the boundary detail), freezes every norm layer, and trains with `soc_loss` at the
reference's small learning rate. The adapted weights are kept only if they score better on the
validation split than the supervised ones: SOC is a measured choice, not an act of faith.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from model.training import checkpoint
from model.training.augment import AugmentConfig, Source
from model.training.config import TrainConfig
from model.training.data_sources import load_split, soc_photos
from model.training.losses import soc_loss
from model.training.paths import Locations
from model.training.photos import read_rgb
from model.training.torch_setup import (
    autocast,
    configure_threads,
    new_network,
    normalise,
    pick_device,
    set_train_mode,
)
from model.training.train_supervised import Log, append_log, run_settings, validate
from model.training.training_data import AugmentedPhotos, BatchPlan
from model.training.validation import Scores, load_val_photos

# Whole photos, flipped at random, nothing else: SOC adapts to real photos as the service sees them.
PLAIN = AugmentConfig(
    swap_background_p=0.0,
    colour_p=0.0,
    blur_p=0.0,
    noise_p=0.0,
    jpeg_p=0.0,
    resample_p=0.0,
    whole_zoom=(1, 1),
)


@dataclass
class SocOutcome:
    step: int
    before: Scores  # the supervised weights
    best: Scores  # the best SOC weights
    kept: bool  # whether SOC improved on the supervised weights (soc_best.pt exists)
    seconds: float


def _soc_sources(loc: Locations, short_side: int, with_labelled_scenes: bool) -> list[Source]:
    import cv2
    import numpy as np

    sources = []
    for photo in soc_photos(load_split(loc), with_labelled_scenes):
        image = read_rgb(photo.image_path)
        height, width = image.shape[:2]
        scale = min(1.0, short_side / min(height, width))
        small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))))
        empty = np.zeros(small.shape[:2], np.uint8)  # no label: SOC never reads it
        sources.append(
            Source(np.asarray(small, np.uint8), empty, np.asarray(small, np.uint8), (height, width))
        )
    return sources


def adapt(cfg: TrainConfig, loc: Locations, log: Log = print, start: Path | None = None) -> SocOutcome:
    """SOC from the run's best.pt, or from `start` (a checkpoint with EMA weights, e.g. a validated
    step the full-size report preferred, or a .safetensors weights file). Every validation's weights
    are kept as validated/soc_step_N.pt beside soc_best.pt, for the full-size report to choose among."""
    started = time.perf_counter()
    configure_threads(cfg.threads)
    device = pick_device()
    run_dir = loc.run_dir(cfg.run)
    # Checked before anything is loaded or scored: a refused resume should cost nothing.
    state = checkpoint.load(run_dir / "soc_last.pt") if (run_dir / "soc_last.pt").is_file() else None
    origin = str(start.resolve()) if start else "best.pt"
    if state is not None and state.get("origin", origin) != origin:
        # Resuming would continue another starting point's SOC and report it as this one's.
        raise ValueError(
            f"{run_dir / 'soc_last.pt'} continues SOC from {state['origin']}, not {origin}: "
            "use another --run, or remove that file to start over"
        )
    # `start` may also be a weights file (the shipped one: SOC on it needs no runs/ at all).
    supervised = checkpoint.load_ema_source(start) if start else checkpoint.load(run_dir / "best.pt")
    # The run's own sizes, so "before" and "after" are scored alike (a preset's defaults may differ).
    cfg = run_settings(supervised.get("config"), cfg)
    net = new_network()
    net.load_state_dict(supervised["ema"])
    # Scored in eval mode: a fresh network is in train mode, where every validation forward would
    # score with batch statistics and overwrite BatchNorm's running ones (the starting point and the
    # frozen copy below with them).
    net.eval()
    val_photos = load_val_photos(load_split(loc).val, cfg.val_short_side)
    # A soup (`model.training.soup`) was never validated: score it as SOC's starting point.
    before = (
        Scores(**supervised["scores"]) if "scores" in supervised else validate(net, val_photos, cfg.val_size)
    )
    step, best = 0, before
    if state is not None:
        net.load_state_dict(state["model"])
        step, best = int(state["step"]), Scores(**state["best"])
    net.to(device)
    backup = copy.deepcopy(net).eval().requires_grad_(False)
    if state is not None:  # the frozen copy is always the supervised result
        backup.load_state_dict(supervised["ema"])
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.soc_lr, betas=(0.9, 0.99))
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])

    sources = _soc_sources(loc, cfg.source_short_side, cfg.soc_labelled_scenes)
    log(f"soc: {len(sources)} photos")
    plan = BatchPlan(
        sources, cfg.soc_batch_size, cfg.train_size, cfg.crop_size, 1.0, cfg.seed + 1, step, cfg.soc_steps
    )
    loader = DataLoader(
        AugmentedPhotos(sources, cfg.seed + 1, PLAIN), batch_sampler=plan, num_workers=cfg.workers
    )
    deadline = started + cfg.chunk_minutes * 60 if cfg.chunk_minutes > 0 else float("inf")
    set_train_mode(net, freeze_backbone_bn=True, freeze_all_norms=True)
    for images_u8, _ in loader:
        images = normalise(images_u8.to(device))
        with autocast(device):
            pred_semantic, pred_detail, pred_matte = net(images, False)
            with torch.no_grad():
                _, backup_detail, backup_matte = backup(images, False)
        assert pred_semantic is not None and pred_detail is not None and backup_detail is not None
        loss = soc_loss(pred_semantic, pred_detail, pred_matte, backup_detail, backup_matte)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        append_log(run_dir, {"stage": "soc", "step": step, "loss": float(loss.detach())})
        last_chunk = time.perf_counter() > deadline
        if step % cfg.soc_val_every == 0 or step == cfg.soc_steps or last_chunk:
            net.eval()
            scores = validate(net, val_photos, cfg.val_size)
            set_train_mode(net, freeze_backbone_bn=True, freeze_all_norms=True)
            append_log(run_dir, {"stage": "soc-val", "step": step, "iou": scores.iou, "mae": scores.mae})
            log(f"soc step {step}: val IoU {scores.iou:.4f} MAE {scores.mae:.4f} (before {before.iou:.4f})")
            # Marked as SOC with its start and "before" score, so an export of this file (often
            # from another run folder than the supervised run's) can say what it is.
            validated = {
                "step": step,
                "ema": net.state_dict(),
                "scores": vars(scores),
                "stage": "soc",
                "origin": origin,
                "before": vars(before),
                "config": cfg.as_dict(),  # the SOC settings: the card's command for this step
                # A weights file's name and version at the start (the file itself gets replaced).
                "origin_label": str(supervised.get("label", "")),
            }
            checkpoint.save(run_dir / "validated" / f"soc_step_{step}.pt", validated)
            if scores.better_than(best):
                best = scores
                checkpoint.save(run_dir / "soc_best.pt", validated)
            checkpoint.save(
                run_dir / "soc_last.pt",
                {
                    "step": step,
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "best": vars(best),
                    "origin": origin,  # what this SOC started from: a resume must start there too
                    "config": cfg.as_dict(),  # the SOC settings this result came from, for the card
                },
            )
        if last_chunk:
            log(f"chunk time is up at SOC step {step}; run the same command again to continue")
            break
    kept = (run_dir / "soc_best.pt").is_file()
    return SocOutcome(step, before, best, kept, time.perf_counter() - started)
