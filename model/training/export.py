"""Stage `export`: the run's chosen weights as fp16 safetensors, scored as shipped, plus the card.

The file is written into the run directory first and evaluated from there (so the card's table
describes the exact fp16 bytes that ship); it replaces model/weights/modnet_people.safetensors only
when MODNet beats GrabCut on the validation split (or with --force) and is under the size limit.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.modnet import MODNet
from model.training import checkpoint
from model.training.calibrate import fit_alpha_levels
from model.training.config import SOC_SETTINGS, TrainConfig
from model.training.data_sources import labelled_training_photos, load_split
from model.training.evaluate import (
    category_report,
    chosen_checkpoint,
    evaluate_all,
    markdown_table,
    size_sweep,
)
from model.training.failure_report import category_losses
from model.training.failure_report import markdown as failure_markdown
from model.training.lineage import closest_preset, command_line, lineage, reproduce_commands, shown
from model.training.model_card import CardFacts, render
from model.training.paths import REPO_ROOT, SHIPPED_WEIGHTS, Locations
from model.training.photos import SCENE
from model.training.torch_setup import new_network, pick_device
from model.training.training_data import parse_category_values
from model.training.validation import Scores
from model.weights import ModelInfo, load_modnet, save_safetensors
from service.imaging.matte_scale import matte_at_full_size

MAX_BYTES = 16 * 1024 * 1024
SWEEP_FACTORS = (0.8, 1.0, 1.2, 1.6)  # inference sizes the card compares, relative to the shipped one


def sweep_sizes(size: int) -> list[int]:
    """320 -> [256, 320, 384, 512]: nearby multiples of 32 (the network's stride)."""
    return sorted({max(32, round(size * factor / 32) * 32) for factor in SWEEP_FACTORS})


def run_config(run_dir: Path, last: dict[str, Any]) -> TrainConfig:
    """The supervised settings stored with the run, with the SOC settings its SOC stage ran with."""
    cfg = TrainConfig(**last["config"])
    soc_last = run_dir / "soc_last.pt"
    soc_config = checkpoint.load(soc_last).get("config") if soc_last.is_file() else None
    if soc_config:
        # A setting newer than the SOC run keeps its default.
        cfg = dataclasses.replace(cfg, **{k: soc_config[k] for k in SOC_SETTINGS if k in soc_config})
    return cfg


def write_checksums(directory: Path) -> None:
    """SHA256SUMS by the script the image build verifies them with (one format, one writer).
    Rewritten on every export: safetensors' metadata order varies, so the bytes do too."""
    script = REPO_ROOT / "deploy" / "scripts" / "verify_weights.sh"
    subprocess.run(["sh", str(script), "--generate", str(directory)], check=True, capture_output=True)


def soc_effect(run_dir: Path) -> str:
    """What SOC did to the training-time validation score (the evidence for keeping it)."""
    before = checkpoint.load(run_dir / "best.pt")["scores"]
    soc_best = run_dir / "soc_best.pt"
    if not soc_best.is_file():
        return f"SOC did not improve on validation IoU {before['iou']:.4f}: not kept"
    after = checkpoint.load(soc_best)["scores"]
    return (
        f"SOC raised validation IoU {before['iou']:.4f} → {after['iou']:.4f} "
        f"(MAE {before['mae']:.4f} → {after['mae']:.4f}): kept"
    )


def fitted_levels(net: MODNet, loc: Locations, size: int, limits: str = "") -> tuple[float, float]:
    """`model.training.calibrate` on the training photos with masks, through the serving engine."""
    from model.serving import ModnetEngine

    info = ModelInfo("candidate", "levels", "-")
    engine = ModnetEngine(
        copy.deepcopy(net), info, device=pick_device(), inference_size=size, max_batch_size=1
    )
    photos = labelled_training_photos(loc, load_split(loc), parse_category_values(limits), log=False)
    return fit_alpha_levels(lambda image: matte_at_full_size(engine, image), photos)


def training_wall_seconds(log_path: Path) -> float | None:
    """Sum over chunks of each chunk's last `elapsed_s` (it restarts at 0 when a chunk starts)."""
    if not log_path.is_file():
        return None
    total, previous = 0.0, 0.0
    for line in log_path.read_text().splitlines():
        record = json.loads(line)
        if record.get("stage") != "train":
            continue
        elapsed = float(record["elapsed_s"])
        if elapsed < previous:
            total += previous
        previous = elapsed
    return total + previous


def picked_checkpoint(run_dir: Path, picked: Path | None) -> tuple[dict[str, Any], str]:
    """`picked` (any checkpoint with EMA weights: validated/step_N.pt, soc_best.pt, ...) or, without
    one, the run's own choice (`chosen_checkpoint`). The in-training validation (shrunk scene photos)
    can rank checkpoints differently from the full-size report on every category, so the campaign
    scores its validated steps with `report --checkpoint` and exports the one that wins there."""
    if picked is None:
        return chosen_checkpoint(run_dir)
    state = checkpoint.load(picked)
    where = picked.relative_to(run_dir) if picked.is_relative_to(run_dir) else picked
    if checkpoint.is_marked_soc(state):
        start = Path(state["origin"]).name if state["origin"] != "best.pt" else "the run's best.pt"
        return state, f"SOC step {state['step']} ({where}), started from {start}"
    return state, str(state.get("source") or f"EMA of step {state['step']} ({where})")


@dataclass(frozen=True)
class TrainingStory:
    """The card's training section: what the weights are and the commands that rebuild them."""

    source: str
    commands: list[str]
    steps: int | None  # supervised steps, when the weights are one run's
    wall_seconds: float | None
    soc_effect: str


def training_story(
    run_dir: Path,
    run_cfg: TrainConfig,
    last: dict[str, Any],
    source: str,
    loc: Locations,
    picked: Path | None,
    version: str,
) -> TrainingStory:
    """The run's own choice is told by the run; a picked checkpoint (often a soup of SOC steps from
    other run folders) by what it came from, read off the checkpoints themselves (`lineage`)."""
    if picked is None:
        return TrainingStory(
            source,
            reproduce_commands(run_cfg, loc),
            int(last["step"]),
            training_wall_seconds(run_dir / "log.jsonl"),
            soc_effect(run_dir),
        )
    told = lineage(picked, loc)
    preset = closest_preset(run_cfg)[0]
    # export reads the run folder's own settings: no --set needed.
    export = command_line("export", run_cfg, [f"--checkpoint {shown(picked)}", f"--version {version}"], ())
    commands = [f"python -m model.training labels --preset {preset}", *told.commands, export]
    effect = "; ".join(told.soc_notes) or "no SOC in these weights' lineage"
    return TrainingStory(told.description, commands, None, None, effect)


def write_candidate(
    state: dict[str, Any], source: str, version: str, size: int, limits: str, loc: Locations, path: Path
) -> tuple[float, float]:
    """The checkpoint's EMA weights as the fp16 file the service would load, with its alpha levels
    fitted through the serving path (`fitted_levels`) and its inference size; returns the levels."""
    net = new_network()
    net.load_state_dict(state["ema"])
    lo, hi = fitted_levels(net, loc, size, limits)
    metadata = {
        "name": "modnet-people",
        "version": version,
        "source": source,
        "inference_size": str(size),
        "alpha_levels": f"{lo},{hi}",
    }
    save_safetensors(net, path, metadata)
    load_modnet(path)  # it must load back into the serving network
    return lo, hi


def export_weights(
    cfg: TrainConfig,
    loc: Locations,
    size: int,
    version: str | None,
    force: bool,
    out: Path | None,
    picked: Path | None = None,
) -> int:
    run_dir = loc.run_dir(cfg.run)
    last = checkpoint.load(run_dir / "last.pt")
    run_cfg = run_config(run_dir, last)
    size = size or run_cfg.train_size
    state, source = picked_checkpoint(run_dir, picked)
    today = datetime.date.today().isoformat()
    version = version or f"{today}-{run_cfg.run}-step{state['step'] if picked else last['step']}"
    candidate = run_dir / "candidate.safetensors"
    lo, hi = write_candidate(state, source, version, size, run_cfg.category_limits, loc, candidate)
    print(f"alpha levels (sure background, sure foreground): {lo}, {hi}")
    size_bytes = candidate.stat().st_size
    if size_bytes >= MAX_BYTES:
        print(f"export refused: {size_bytes / 1e6:.1f} MB is over the 16 MiB limit")
        return 2

    rows = evaluate_all(run_cfg, loc, size, candidate)
    table = markdown_table(rows)
    print(table)
    others = [s for s in sweep_sizes(size) if s != size]  # the shipped size is rows[0] already
    by_size = {size: rows[0], **dict(zip(others, size_sweep(run_cfg, loc, candidate, others), strict=True))}
    sweep = markdown_table([by_size[s] for s in sorted(by_size)])
    print(sweep)
    modnet, grabcut = rows[0], rows[-1]
    target = out or SHIPPED_WEIGHTS
    guarded = target.is_file() and not force
    # The file it would replace, scored once on every held-out category at its own inference size
    # (MODNet alone: the teacher and GrabCut rows are already known).
    shipped_rows = category_report(run_cfg, loc, 0, target, with_baselines=False) if guarded else []
    if guarded:
        # The shipped weights never get worse: the candidate must beat the file it would replace on
        # IoU or MAE and lose on neither, scored the same way (full-size validation photos, through
        # the service's engine): the scene row is the validation split's IoU and MAE. Compared as the
        # tables print them, like the category guard below: one rule for "loses nothing".
        shipped = next(row for row in shipped_rows if row.category == SCENE)
        if (
            not Scores(modnet.iou, modnet.mae)
            .as_printed()
            .improves_on(Scores(shipped.iou, shipped.mae).as_printed())
        ):
            print(
                f"export refused: candidate IoU {modnet.iou:.4f} / MAE {modnet.mae:.4f} does not beat "
                f"the shipped {target.name} ({shipped.iou:.4f} / {shipped.mae:.4f})"
            )
            return 1
    if modnet.iou <= grabcut.iou and not force:
        print(f"export refused: MODNet IoU {modnet.iou:.4f} does not beat GrabCut's {grabcut.iou:.4f}")
        return 1

    categories = category_report(run_cfg, loc, size, candidate)
    category_table = failure_markdown(categories)
    print(category_table)
    if guarded:
        # Nor in any other held-out category (close portraits, hair): see `category_losses`.
        ours = [row for row in categories if row.method.startswith("MODNet")]
        losses = category_losses(ours, shipped_rows)
        if losses:
            print("export refused: the candidate loses to the shipped weights on " + "; ".join(losses))
            return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(candidate, target)
    write_checksums(target.parent)
    preset = closest_preset(run_cfg)[0]
    story = training_story(run_dir, run_cfg, last, source, loc, picked, version)
    wall = story.wall_seconds
    device = str(last.get("device", "cpu"))
    facts = CardFacts(
        version=version,
        weights_file=f"model/weights/{target.name}",
        size_mb=size_bytes / 1e6,
        source=story.source,
        preset=preset,
        config_lines=[f"{k} = {v}" for k, v in run_cfg.as_dict().items()],
        train_commands=story.commands,
        device="CUDA GPU" if device.startswith("cuda") else "CPU (2 shared cores)",
        steps=story.steps,
        wall_minutes=None if wall is None else wall / 60,
        table=table,
        val_photos=len(load_split(loc).val) if loc.val_split.is_file() else 0,
        soc_effect=story.soc_effect,
        inference_size=size,
        alpha_levels=(lo, hi),
        size_sweep=f"\nThe same file at other inference sizes:\n\n{sweep}\n",
        full_run_owed=not device.startswith("cuda") or preset != "gpu",
        category_table=category_table,
    )
    (target.parent / "MODEL_CARD.md").write_text(render(facts))
    print(f"exported {target} ({size_bytes / 1e6:.1f} MB, version {version}) and its model card")
    return 0
