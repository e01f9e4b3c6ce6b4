"""Run a MODNet on whole photos exactly as the service does (model.serving's input-size rule:
the reference demo's, short side to the inference size when the photo is entirely smaller or
larger, both sides floored to multiples of 32; 'area' resize; bilinear back to the photo).

Training validation calls this on the live EMA module, which `model.serving.ModnetEngine` cannot
take (it converts the module it is given to its serving dtype in place); `eval` uses the engine.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from model.serving import network_input_size


def to_input(images: npt.NDArray[np.uint8], device: torch.device) -> torch.Tensor:
    """[B, H, W, 3] uint8 RGB -> [B, 3, H, W] float in -1..1 (MODNet's (x - 0.5) / 0.5)."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def predict_alpha(net: nn.Module, image: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.float32]:
    """Alpha (H x W float32) for one RGB photo; `net` is used in whatever mode it is in."""
    height, width = image.shape[:2]
    device = next(net.parameters()).device
    x = to_input(image[None], device)
    in_size = network_input_size(height, width, size)
    if tuple(x.shape[2:]) != in_size:
        x = F.interpolate(x, size=in_size, mode="area")
    matte = net(x, True)[2].float()
    if tuple(matte.shape[2:]) != (height, width):
        shrinking = matte.shape[2] > height or matte.shape[3] > width
        matte = F.interpolate(matte, size=(height, width), mode="bilinear", antialias=shrinking)
    return matte[0, 0].clamp(0.0, 1.0).cpu().numpy().astype(np.float32)
