"""Which runtime runs MODNet's forward pass: the `cpu_runtime` setting (`auto` / `torch` / `onnx`).

- `torch`: the network itself (eager), as in training; the only choice on CUDA.
- `onnx`: ONNX Runtime on a graph exported from the same weights at load (model/onnx_runtime.py);
  fp32 only, CPU only. Asking for it where it cannot run (CUDA, bf16, packages missing, export
  failing) is a configuration error and raises.
- `auto` (default): `onnx` on CPU at fp32 when `onnx` and `onnxruntime` are installed, else
  `torch`; an export that fails at load is logged and falls back to torch (the engine still serves).
  Explicit bf16 (`cpu_precision`) keeps torch: it is an autocast of the torch network.

Pre- and post-processing (resize, normalisation, alpha levels) are the same for every runtime:
in torch around the torch network, in numpy around ONNX Runtime (`preprocess.ArrayForward`: torch's
own threads would compete with ONNX Runtime's), equal to float rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from model.onnx_runtime import load_onnx_modnet, onnx_available

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "onnx")
Runtime = Literal["torch", "onnx"]
Forward = Callable[[torch.Tensor], torch.Tensor]  # [B, 3, H, W] in [-1, 1] -> matte [B, 1, H, W]


def choose_runtime(requested: str, *, device: torch.device, bf16: bool) -> Runtime:
    """The runtime `requested` resolves to; ValueError when it cannot run here."""
    if requested not in RUNTIMES:
        raise ValueError(f"cpu_runtime must be one of {', '.join(RUNTIMES)}, got {requested!r}")
    if requested == "torch":
        return "torch"
    explicit = requested == "onnx"
    if device.type != "cpu":
        if explicit:
            raise ValueError(f"cpu_runtime onnx runs on CPU only; the device is {device}")
        return "torch"
    if bf16:
        if explicit:
            raise ValueError("cpu_runtime onnx runs fp32; cpu_precision bf16 needs cpu_runtime torch or auto")
        return "torch"
    if not onnx_available():
        if explicit:
            raise ValueError("cpu_runtime onnx needs the onnx and onnxruntime packages (extra 'cpu')")
        return "torch"
    return "onnx"


def build_forward(
    net: nn.Module, requested: str, *, device: torch.device, bf16: bool, cache_dir: Path | None = None
) -> tuple[Runtime, Forward | None]:
    """(runtime, forward): forward is None for torch (the engine calls the network itself)."""
    runtime = choose_runtime(requested, device=device, bf16=bf16)
    if runtime == "torch":
        return runtime, None
    try:
        return runtime, load_onnx_modnet(net, cache_dir=cache_dir)
    except Exception:
        if requested == "onnx":
            raise
        log.exception("ONNX export/load of MODNet failed; cpu_runtime auto falls back to torch")
        return "torch", None
