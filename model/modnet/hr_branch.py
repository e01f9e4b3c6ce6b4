"""High-resolution (detail) branch: refines boundaries from the image and early encoder features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.modnet.blocks import Conv2dIBNormRelu


def _resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


class HRBranch(nn.Module):
    """Works at 1/4 and 1/2 resolution; predicts the boundary detail matte at full resolution."""

    def __init__(self, hr_channels: int, enc_channels: tuple[int, ...]) -> None:
        super().__init__()
        hr = hr_channels
        self.tohr_enc2x = Conv2dIBNormRelu(enc_channels[0], hr, 1, stride=1, padding=0)
        self.conv_enc2x = Conv2dIBNormRelu(hr + 3, hr, 3, stride=2, padding=1)

        self.tohr_enc4x = Conv2dIBNormRelu(enc_channels[1], hr, 1, stride=1, padding=0)
        self.conv_enc4x = Conv2dIBNormRelu(2 * hr, 2 * hr, 3, stride=1, padding=1)

        self.conv_hr4x = nn.Sequential(
            Conv2dIBNormRelu(3 * hr + 3, 2 * hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(2 * hr, 2 * hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(2 * hr, hr, 3, stride=1, padding=1),
        )
        self.conv_hr2x = nn.Sequential(
            Conv2dIBNormRelu(2 * hr, 2 * hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(2 * hr, hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr, hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr, hr, 3, stride=1, padding=1),
        )
        self.conv_hr = nn.Sequential(
            Conv2dIBNormRelu(hr + 3, hr, 3, stride=1, padding=1),
            Conv2dIBNormRelu(hr, 1, 1, stride=1, padding=0, with_ibn=False, with_relu=False),
        )

    def forward(
        self,
        img: torch.Tensor,
        enc2x: torch.Tensor,
        enc4x: torch.Tensor,
        lr8x: torch.Tensor,
        inference: bool,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        # img: [B, 3, H, W]; enc2x: [B, 16, H/2, W/2]; enc4x: [B, 24, H/4, W/4]; lr8x: [B, 32, H/8, W/8]
        img2x = _resize(img, 1 / 2)  # [B, 3, H/2, W/2]
        img4x = _resize(img, 1 / 4)  # [B, 3, H/4, W/4]

        enc2x = self.tohr_enc2x(enc2x)  # [B, hr, H/2, W/2]
        hr4x = self.conv_enc2x(torch.cat((img2x, enc2x), dim=1))  # [B, hr, H/4, W/4]

        enc4x = self.tohr_enc4x(enc4x)  # [B, hr, H/4, W/4]
        hr4x = self.conv_enc4x(torch.cat((hr4x, enc4x), dim=1))  # [B, 2hr, H/4, W/4]

        lr4x = _resize(lr8x, 2)  # [B, 32, H/4, W/4]
        hr4x = self.conv_hr4x(torch.cat((hr4x, lr4x, img4x), dim=1))  # [B, hr, H/4, W/4]

        hr2x = _resize(hr4x, 2)
        hr2x = self.conv_hr2x(torch.cat((hr2x, enc2x), dim=1))  # [B, hr, H/2, W/2]

        pred_detail = None
        if not inference:
            hr = _resize(hr2x, 2)
            pred_detail = torch.sigmoid(self.conv_hr(torch.cat((hr, img), dim=1)))  # [B, 1, H, W]
        return pred_detail, hr2x
