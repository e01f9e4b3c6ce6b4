"""Stage `soup`: the uniform mean of several checkpoints' EMA weights (a "model soup", Wortsman et
al. 2022), as one checkpoint that `report --checkpoint` and `export --checkpoint` take.

Why: checkpoints of one run trade categories against each other (run c14: step 150 best on the
scene photos, step 225 on the close portraits, docs/training-campaign.md); weights along one
trajectory average into a network that keeps much of both. Integer buffers (BatchNorm's batch
counter) come from the first checkpoint; every float tensor is averaged in float32.

An ingredient may also be a weights file (`.safetensors`, e.g. the shipped one): a run that started
from the shipped weights can then be souped with them after `runs/` is gone (a fresh machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model.training import checkpoint


def soup(paths: list[Path], out: Path) -> dict[str, Any]:
    if len(paths) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    states = [checkpoint.load_ema_source(path) for path in paths]
    first = states[0]["ema"]
    for path, state in zip(paths[1:], states[1:], strict=True):
        if state["ema"].keys() != first.keys():
            raise ValueError(f"{path}: not the same network as {paths[0]}")
    mean = {
        name: (
            torch.stack([s["ema"][name].float() for s in states]).mean(0)
            if tensor.is_floating_point()
            else tensor
        )
        for name, tensor in first.items()
    }
    names = ", ".join(
        s.get("label", f"{path.parent.name}/{path.name}") for path, s in zip(paths, states, strict=True)
    )
    result = {
        "step": max(int(s["step"]) for s in states),
        "ema": mean,
        "config": next((s["config"] for s in states if s.get("config")), None),
        "source": f"mean of the EMA weights of {names}",
        "inputs": [str(path) for path in paths],  # for the card's commands
        # A weights file's name and version as souped (model.training.lineage): the file is replaced.
        "labels": [str(s.get("label", "")) for s in states],
    }
    checkpoint.save(out, result)
    return result
