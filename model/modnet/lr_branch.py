"""Low-resolution (semantic) branch: backbone, SE block, two 5x5 decoders to 1/8 resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.modnet.blocks import Conv2dIBNormRelu, SEBlock
from model.modnet.mobilenetv2 import EncoderFeatures, MobileNetV2Backbone


class LRBranch(nn.Module):
    """Predicts the coarse semantic mask at 1/16 and the 1/8 features the other branches use.

    It holds a reference to the same backbone as `MODNet.backbone` (the reference does), so the
    backbone's parameters appear twice in `state_dict()`: as `backbone.*` and `lr_branch.backbone.*`.
    """

    def __init__(self, backbone: MobileNetV2Backbone) -> None:
        super().__init__()
        enc = backbone.enc_channels
        self.backbone = backbone
        self.se_block = SEBlock(enc[4], reduction=4)
        self.conv_lr16x = Conv2dIBNormRelu(enc[4], enc[3], 5, stride=1, padding=2)
        self.conv_lr8x = Conv2dIBNormRelu(enc[3], enc[2], 5, stride=1, padding=2)
        self.conv_lr = Conv2dIBNormRelu(enc[2], 1, 3, stride=2, padding=1, with_ibn=False, with_relu=False)

    def forward(
        self, img: torch.Tensor, inference: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor, EncoderFeatures]:
        # img: [B, 3, H, W]
        feats = self.backbone(img)
        enc32x = self.se_block(feats.enc32x)  # [B, 1280, H/32, W/32]
        lr16x = F.interpolate(enc32x, scale_factor=2, mode="bilinear", align_corners=False)
        lr16x = self.conv_lr16x(lr16x)  # [B, 96, H/16, W/16]
        lr8x = F.interpolate(lr16x, scale_factor=2, mode="bilinear", align_corners=False)
        lr8x = self.conv_lr8x(lr8x)  # [B, 32, H/8, W/8]

        pred_semantic = None
        if not inference:
            pred_semantic = torch.sigmoid(self.conv_lr(lr8x))  # [B, 1, H/16, W/16]
        return pred_semantic, lr8x, feats
