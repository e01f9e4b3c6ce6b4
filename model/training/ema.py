"""Exponential moving average of the weights (and a copy of the norm statistics).

Why: the first distillation runs swung by several IoU points between runs and between steps; the
averaged weights are smoother than any single step's, and they are what validation scores and
export ships.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEma:
    def __init__(self, net: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(net).eval()
        self.module.requires_grad_(False)
        self.decay = decay

    def decay_at(self, step: int) -> float:
        # Ramp up so early, random-ish weights are forgotten quickly (as timm's ModelEmaV2 warm-up).
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        decay = self.decay_at(step)
        live = net.state_dict()
        for key, value in self.module.state_dict().items():
            source = live[key].detach()
            if value.is_floating_point():
                value.mul_(decay).add_(source.to(value.dtype), alpha=1.0 - decay)
            else:
                value.copy_(source)  # e.g. BatchNorm's num_batches_tracked
