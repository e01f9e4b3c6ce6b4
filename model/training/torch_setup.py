"""Device, precision and network set-up shared by the training stages."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from model.modnet import MODNet

HR_CHANNELS = 32  # the reference MODNet width; the shipped file must fit `MODNet()` unchanged


def pick_device() -> torch.device:
    from model.serving import resolve_device

    return resolve_device("auto")


def configure_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def autocast(device: torch.device, cpu_bf16: bool = False) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA (no loss scaling needed, unlike fp16). On CPU only when asked and the CPU
    computes bf16 natively (AVX512-BF16 or AMX): emulated bf16 is slower than fp32."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16 and cpu_bf16_available():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_bf16_available() -> bool:
    from model.serving import cpu_has_native_bf16

    return cpu_has_native_bf16()


def normalise(images_u8: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] uint8 -> float in -1..1, MODNet's (x/255 - 0.5) / 0.5."""
    return images_u8.float().div_(127.5).sub_(1.0)


def new_network() -> MODNet:
    return MODNet(hr_channels=HR_CHANNELS)


def set_train_mode(net: nn.Module, freeze_backbone_bn: bool, freeze_all_norms: bool = False) -> None:
    """train() except for norm layers whose statistics must stay fixed: the backbone's folded
    ImageNet BN (see model.backbone_init), or every norm during SOC (as the reference's freeze_norm)."""
    net.train()
    scopes: list[nn.Module] = [net] if freeze_all_norms else []
    if freeze_backbone_bn and not freeze_all_norms:
        scopes.append(getattr(net, "backbone", net))
    for scope in scopes:
        for module in scope.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm | nn.InstanceNorm2d):
                module.eval()


def freeze_early_backbone(net: nn.Module, stages: int) -> None:
    """Stops gradients into the first `stages` MobileNetV2 feature stages (ImageNet low-level filters,
    which fine-tuning barely moves): less backward work per step. 0 leaves every stage trainable."""
    features = getattr(getattr(net, "backbone", None), "model", None)
    if stages <= 0 or features is None:
        return
    for index, stage in enumerate(features.features):
        if index < stages:
            stage.requires_grad_(False)


def param_groups(net: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Weight decay on conv/linear weights only; norms and biases are not shrunk toward zero."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in net.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, base: float, warmup: int, total: int, min_fraction: float) -> float:
    """Linear warm-up then cosine decay to base * min_fraction; a pure function of the step, so a
    resumed run needs no scheduler state."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (min_fraction + (1 - min_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
