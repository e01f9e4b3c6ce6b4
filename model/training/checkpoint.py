"""Resumable training state on disk: one file per role in the run directory.

    last.pt      everything needed to continue (weights, EMA, optimizer, step, best score, config)
    best.pt      the EMA weights that scored best on validation, with their scores
    validated/step_N.pt   the EMA weights validated at step N, with their scores (every one)
    soc_last.pt  / soc_best.pt   the same for the SOC stage
Writes go to a temporary file first, so a run killed mid-write keeps its previous checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from model.weights import SAFETENSORS_SUFFIX, load_modnet


def save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    # weights_only: checkpoints hold tensors and plain Python values only, nothing to unpickle.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a training checkpoint")
    return state


def is_marked_soc(state: dict[str, Any]) -> bool:
    """A validated SOC step as `model.training.soc` writes it: marked, with the checkpoint it
    started from (its `origin`)."""
    return state.get("stage") == "soc" and "origin" in state


def reads_as_soc(path: Path, state: dict[str, Any]) -> bool:
    """Any SOC-stage file: marked ones, and those from before the mark, which carry no origin and
    are known by name only (soc_step_N.pt, soc_best.pt, soc_last.pt; their start is in the
    folder's soc_last.pt)."""
    return is_marked_soc(state) or path.name.startswith("soc_")


def load_ema_source(path: Path) -> dict[str, Any]:
    """A checkpoint with EMA weights, or a weights file read into the same form (its network's state
    dict as the EMA weights, in float32; step 0: it adds no training steps of its own), so that
    `soup` and `soc --checkpoint` take the shipped file too, once runs/ is gone."""
    if path.suffix.lower() != SAFETENSORS_SUFFIX:
        return load(path)
    net, info = load_modnet(path)
    ema = {name: t.float() if t.is_floating_point() else t for name, t in net.state_dict().items()}
    # Named by version too: the shipped file is replaced when a soup or SOC result ships.
    return {"step": 0, "ema": ema, "config": None, "label": f"{path.name} ({info.version})"}
