"""Run a MODNet on whole photos exactly as the service does: the same `model.preprocess` functions
as `model.serving.ModnetEngine` (input-size rule, 'area' resize on uint8, normalisation, output
levels, edge-aware upsampling to the photo), so validation scores what will be served.

Training validation calls this on the live EMA module, which `model.serving.ModnetEngine` cannot
take (it converts the module it is given to its serving dtype in place); `eval` uses the engine.
"""

from __future__ import annotations

import torch
from torch import nn

from model.preprocess import NO_LEVELS, predict_full_size
from service.contract import Alpha, RGBImage


@torch.no_grad()
def predict_alpha(
    net: nn.Module, image: RGBImage, size: int, *, levels: tuple[float, float] = NO_LEVELS
) -> Alpha:
    """Alpha (H x W float32) for one RGB photo; `net` is used in whatever mode and dtype it is in.
    `levels` are the weights' fitted output levels, where they have them (a network in training
    has none yet)."""
    return predict_full_size(net, image, size, levels=levels)
