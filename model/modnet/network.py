"""MODNet (Ke et al. 2020, "Is a Green Screen Really Necessary for Real-Time Portrait Matting?")."""

from __future__ import annotations

import torch
from torch import nn

from model.modnet.fusion_branch import FusionBranch
from model.modnet.hr_branch import HRBranch
from model.modnet.lr_branch import LRBranch
from model.modnet.mobilenetv2 import MobileNetV2Backbone

MODNetOutput = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]


class MODNet(nn.Module):
    """Trimap-free portrait matting network; randomly initialised, loads nothing.

    Input: RGB normalised as (x/255 - 0.5) / 0.5, [B, 3, H, W] with H, W multiples of 32.
    Weights are a separate step (`model.weights`, `model.backbone_init`).
    """

    def __init__(self, hr_channels: int = 32) -> None:
        super().__init__()
        self.hr_channels = hr_channels
        self.backbone = MobileNetV2Backbone(in_channels=3)
        self.lr_branch = LRBranch(self.backbone)
        self.hr_branch = HRBranch(hr_channels, self.backbone.enc_channels)
        self.f_branch = FusionBranch(hr_channels, self.backbone.enc_channels)
        self._init_weights()

    def _init_weights(self) -> None:
        # The reference's initialisation: He-uniform convs with zero bias, norms at identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=0, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, img: torch.Tensor, inference: bool = False) -> MODNetOutput:
        """Returns (pred_semantic [B,1,H/16,W/16], pred_detail [B,1,H,W], pred_matte [B,1,H,W]).

        All three are sigmoid probabilities; with `inference=True` the first two are None and
        their heads are skipped.
        """
        pred_semantic, lr8x, feats = self.lr_branch(img, inference)
        pred_detail, hr2x = self.hr_branch(img, feats.enc2x, feats.enc4x, lr8x, inference)
        pred_matte = self.f_branch(img, lr8x, hr2x)
        return pred_semantic, pred_detail, pred_matte
