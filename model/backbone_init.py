"""Initialises MODNet's MobileNetV2 encoder from ImageNet weights with batch norm folded into biases.

The npz (../shared/models/mobilenet_v2_imagenet_folded.npz, see its README) holds 53 convolutions in
graph order, `NN.weight` [out, in/groups, kh, kw] and `NN.bias` [out]; 00-51 are the feature
convolutions that `backbone.model.features` has, 52 is the ImageNet classifier, which MODNet lacks.

Our convolutions have no bias, each is followed by a BatchNorm, so the folded bias goes into that
BatchNorm as an identity transform plus shift: weight 1, bias = folded bias, running mean 0,
running var 1. Eval-mode BN divides by sqrt(running_var + eps); the weight is set to sqrt(1 + eps)
so that the layer is exactly conv + bias rather than off by a factor of 1/sqrt(1 + 1e-5).

Training-mode BN normalises with batch statistics instead, which discards the folded scale: when
fine-tuning from this initialisation, keep the backbone's BN layers in eval mode (frozen statistics),
at least at first.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.modnet import MODNet
from model.modnet.mobilenetv2 import MobileNetV2Backbone

FEATURE_CONVS = 52  # npz entries 00..51; 52 is the 1001-way classifier


def conv_bn_pairs(backbone: MobileNetV2Backbone) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each feature convolution with the BatchNorm that follows it, in graph order."""
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]] = []
    pending: nn.Conv2d | None = None
    for module in backbone.model.features.modules():
        if isinstance(module, nn.Conv2d):
            if pending is not None:
                raise ValueError(f"conv without a following BatchNorm: {pending}")
            pending = module
        elif isinstance(module, nn.BatchNorm2d):
            if pending is None:
                raise ValueError("BatchNorm without a preceding conv")
            pairs.append((pending, module))
            pending = None
    return pairs


def load_imagenet_backbone(net: MODNet | MobileNetV2Backbone, npz_path: Path) -> None:
    """Copies the folded ImageNet weights into `net`'s backbone in place; checks every shape first."""
    backbone = net.backbone if isinstance(net, MODNet) else net
    pairs = conv_bn_pairs(backbone)
    if len(pairs) != FEATURE_CONVS:
        raise ValueError(f"expected {FEATURE_CONVS} conv+BN pairs in the backbone, found {len(pairs)}")
    with np.load(npz_path) as npz:
        arrays = [(npz[f"{i:02d}.weight"], npz[f"{i:02d}.bias"]) for i in range(FEATURE_CONVS)]
        for i, (conv, _) in enumerate(pairs):
            stride, groups = int(npz[f"{i:02d}.stride"]), int(npz[f"{i:02d}.groups"])
            if (stride, groups) != (conv.stride[0], conv.groups):
                raise ValueError(f"npz conv {i:02d}: stride/groups {stride}/{groups} vs {conv}")

    for i, ((conv, bn), (weight, bias)) in enumerate(zip(pairs, arrays, strict=True)):
        if tuple(weight.shape) != tuple(conv.weight.shape) or bias.shape != (bn.num_features,):
            raise ValueError(
                f"npz conv {i:02d}: weight {weight.shape} / bias {bias.shape} do not fit "
                f"{tuple(conv.weight.shape)} / ({bn.num_features},)"
            )
    with torch.no_grad():
        for (conv, bn), (weight, bias) in zip(pairs, arrays, strict=True):
            conv.weight.copy_(torch.from_numpy(weight))
            assert bn.weight is not None and bn.bias is not None  # affine BatchNorm
            assert bn.running_mean is not None and bn.running_var is not None
            bn.weight.fill_(math.sqrt(1.0 + bn.eps))
            bn.bias.copy_(torch.from_numpy(bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.zero_()
