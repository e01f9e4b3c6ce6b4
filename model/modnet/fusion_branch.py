"""Fusion branch: merges semantic (1/8) and detail (1/2) features into the full-resolution matte."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.modnet.blocks import Conv2dIBNormRelu


def _upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class FusionBranch(nn.Module):
    def __init__(self, hr_channels: int, enc_channels: tuple[int, ...]) -> None:
        super().__init__()
        hr = hr_channels
        self.conv_lr4x = Conv2dIBNormRelu(enc_channels[2], hr, 5, stride=1, padding=2)
        self.conv_f2x = Conv2dIBNormRelu(2 * hr, hr, 3, stride=1, padding=1)
        self.conv_f = nn.Sequential(
            Conv2dIBNormRelu(hr + 3, hr // 2, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr // 2, 1, 1, stride=1, padding=0, with_ibn=False, with_relu=False),
        )

    def forward(self, img: torch.Tensor, lr8x: torch.Tensor, hr2x: torch.Tensor) -> torch.Tensor:
        # img: [B, 3, H, W]; lr8x: [B, 32, H/8, W/8]; hr2x: [B, hr, H/2, W/2]
        lr4x = self.conv_lr4x(_upsample2(lr8x))  # [B, hr, H/4, W/4]
        lr2x = _upsample2(lr4x)  # [B, hr, H/2, W/2]
        f2x = self.conv_f2x(torch.cat((lr2x, hr2x), dim=1))  # [B, hr, H/2, W/2]
        f = self.conv_f(torch.cat((_upsample2(f2x), img), dim=1))  # [B, 1, H, W]
        return torch.sigmoid(f)
