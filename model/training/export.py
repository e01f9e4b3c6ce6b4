"""Stage `export`: the run's chosen weights as fp16 safetensors, scored as shipped, plus the card.

The file is written into the run directory first and evaluated from there (so the card's table
describes the exact fp16 bytes that ship); it replaces model/weights/modnet_people.safetensors only
when MODNet beats GrabCut on the validation split (or with --force) and is under the size limit.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from model.training import checkpoint
from model.training.config import PRESETS, TrainConfig
from model.training.evaluate import chosen_checkpoint, evaluate_all, markdown_table
from model.training.model_card import CardFacts, render
from model.training.paths import SHIPPED_WEIGHTS, Locations
from model.training.torch_setup import new_network
from model.weights import load_modnet, save_safetensors

MAX_BYTES = 16 * 1024 * 1024
RUNTIME = ("workers", "threads", "chunk_minutes", "run")


def closest_preset(cfg: TrainConfig) -> tuple[str, list[str]]:
    """The preset the run's settings come from, and the `--set` overrides on top of it."""
    ours = {k: v for k, v in cfg.as_dict().items() if k not in RUNTIME}

    def overrides(name: str) -> list[str]:
        preset = PRESETS[name].as_dict()
        return [f"{k}={v}" for k, v in ours.items() if preset[k] != v]

    name = min(PRESETS, key=lambda n: len(overrides(n)))
    return name, overrides(name)


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


def export_weights(
    cfg: TrainConfig, loc: Locations, size: int, version: str | None, force: bool, out: Path | None
) -> int:
    run_dir = loc.run_dir(cfg.run)
    last = checkpoint.load(run_dir / "last.pt")
    run_cfg = TrainConfig(**last["config"])
    state, source = chosen_checkpoint(run_dir)
    net = new_network()
    net.load_state_dict(state["ema"])
    today = datetime.date.today().isoformat()
    version = version or f"{today}-{run_cfg.run}-step{last['step']}"
    candidate = run_dir / "candidate.safetensors"
    save_safetensors(net, candidate, {"name": "modnet-people", "version": version, "source": source})
    load_modnet(candidate)  # it must load back into the serving network
    size_bytes = candidate.stat().st_size
    if size_bytes >= MAX_BYTES:
        print(f"export refused: {size_bytes / 1e6:.1f} MB is over the 16 MiB limit")
        return 2

    rows = evaluate_all(run_cfg, loc, size, candidate)
    table = markdown_table(rows)
    print(table)
    modnet, grabcut = rows[0], rows[-1]
    if modnet.iou <= grabcut.iou and not force:
        print(f"export refused: MODNet IoU {modnet.iou:.4f} does not beat GrabCut's {grabcut.iou:.4f}")
        return 1

    target = out or SHIPPED_WEIGHTS
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(candidate, target)
    preset, overrides = closest_preset(run_cfg)
    command = " ".join(
        ["python -m model.training all", f"--preset {preset}"]
        + ([f"--run {run_cfg.run}"] if run_cfg.run != PRESETS[preset].run else [])
        + [f"--set {item}" for item in overrides]
    )
    wall = training_wall_seconds(run_dir / "log.jsonl")
    device = str(last.get("device", "cpu"))
    facts = CardFacts(
        version=version,
        weights_file=f"model/weights/{target.name}",
        size_mb=size_bytes / 1e6,
        source=source,
        preset=preset,
        config_lines=[f"{k} = {v}" for k, v in run_cfg.as_dict().items()],
        train_command=command,
        device="CUDA GPU" if device.startswith("cuda") else "CPU (2 shared cores)",
        steps=int(last["step"]),
        wall_minutes=None if wall is None else wall / 60,
        table=table,
        val_photos=len(loc.val_split.read_text().split()) if loc.val_split.is_file() else 0,
        inference_size=size,
        full_run_owed=not device.startswith("cuda") or preset != "gpu",
    )
    (target.parent / "MODEL_CARD.md").write_text(render(facts))
    print(f"exported {target} ({size_bytes / 1e6:.1f} MB, version {version}) and its model card")
    return 0
