"""Building blocks shared by MODNet's three branches (names follow the reference so checkpoints load)."""

from __future__ import annotations

import torch
from torch import nn


class IBNorm(nn.Module):
    """BatchNorm on the first half of the channels, InstanceNorm (no affine) on the rest.

    The instance-normalised half makes the result depend on the whole image's statistics, which is
    why a batch may only hold inputs of identical shape (padding would shift those statistics).
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.bnorm_channels = in_channels // 2
        self.inorm_channels = in_channels - self.bnorm_channels
        self.bnorm = nn.BatchNorm2d(self.bnorm_channels, affine=True)
        self.inorm = nn.InstanceNorm2d(self.inorm_channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W] -> [B, C, H, W]
        bn_x = self.bnorm(x[:, : self.bnorm_channels].contiguous())
        in_x = self.inorm(x[:, self.bnorm_channels :].contiguous())
        return torch.cat((bn_x, in_x), dim=1)


class Conv2dIBNormRelu(nn.Module):
    """Conv2d, then optionally IBNorm and ReLU, held in `layers` (0: conv, 1: IBNorm, 2: ReLU)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        with_ibn: bool = True,
        with_relu: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=True)
        ]
        if with_ibn:
            layers.append(IBNorm(out_channels))
        if with_relu:
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C_in, H, W] -> [B, C_out, H / stride, W / stride]
        out: torch.Tensor = self.layers(x)
        return out


class SEBlock(nn.Module):
    """Squeeze-and-excitation: rescales each channel by a gate computed from global average pooling."""

    def __init__(self, channels: int, reduction: int = 1) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C, H, W] -> [B, C, H, W]
        b, c = x.shape[0], x.shape[1]
        w = self.fc(self.pool(x).view(b, c)).view(b, c, 1, 1)
        return x * w
