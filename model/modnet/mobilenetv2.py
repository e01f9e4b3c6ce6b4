"""MobileNetV2 (width 1.0) with BatchNorm, as MODNet's encoder.

Module names mirror the reference (`model.features.N...`) so official checkpoints load unchanged;
there is no classifier, only the 19 feature stages.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
_INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_STEM_CHANNELS = 32
_LAST_CHANNELS = 1280


def _conv_bn_relu6(in_ch: int, out_ch: int, kernel_size: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand 1x1 (skipped when t == 1) -> depthwise 3x3 -> linear project 1x1, residual if shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [
                nn.Conv2d(in_ch, hidden, 1, 1, 0, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, in_ch, H, W] -> [B, out_ch, H / stride, W / stride]
        out: torch.Tensor = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """The feature stages only: features[0] stem, [1..17] inverted residuals, [18] 1x1 conv to 1280."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        stages: list[nn.Module] = [_conv_bn_relu6(in_channels, _STEM_CHANNELS, 3, 2)]
        channels = _STEM_CHANNELS
        for t, c, n, s in _INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                stages.append(InvertedResidual(channels, c, s if i == 0 else 1, expansion=t))
                channels = c
        stages.append(_conv_bn_relu6(channels, _LAST_CHANNELS, 1, 1))
        self.features = nn.Sequential(*stages)


class EncoderFeatures(NamedTuple):
    """Backbone outputs at each stride, as MODNet consumes them."""

    enc2x: torch.Tensor  # [B, 16, H/2, W/2]
    enc4x: torch.Tensor  # [B, 24, H/4, W/4]
    enc8x: torch.Tensor  # [B, 32, H/8, W/8]
    enc16x: torch.Tensor  # [B, 96, H/16, W/16]
    enc32x: torch.Tensor  # [B, 1280, H/32, W/32]


class MobileNetV2Backbone(nn.Module):
    """Wraps `MobileNetV2` as `self.model` (the reference's nesting) and taps five strides."""

    enc_channels: tuple[int, int, int, int, int] = (16, 24, 32, 96, _LAST_CHANNELS)

    # Index of the last stage of each stride in `model.features`.
    _TAPS = (1, 3, 6, 13, 18)

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.model = MobileNetV2(in_channels)

    def forward(self, x: torch.Tensor) -> EncoderFeatures:
        # x: [B, 3, H, W] normalised to [-1, 1]; H and W multiples of 32.
        taps: list[torch.Tensor] = []
        for index, stage in enumerate(self.model.features):
            x = stage(x)
            if index in self._TAPS:
                taps.append(x)
        return EncoderFeatures(*taps)
