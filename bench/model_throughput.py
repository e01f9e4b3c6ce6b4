"""Model-only throughput: MODNet's topology with random weights at 512x512, per batch size and mode.

Modes: eager fp32 everywhere (what the service's CPU engine runs); on a CPU with native bf16
(AVX512-BF16 / AMX) also eager bf16, as a candidate for the CPU latency target; on CUDA eager fp16 +
channels_last, the same under torch.compile (and, in full runs, torch.compile with CUDA graphs,
"reduce-overhead"). A mode that
cannot run here (no CUDA, no compiler toolchain) is reported as skipped with the reason, not failed.
Each cell is bounded by an iteration count and a time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from model.modnet import MODNet

SIDE = 512


@dataclass(frozen=True)
class Mode:
    name: str
    dtype: torch.dtype
    channels_last: bool
    compile_mode: str | None  # None: eager; else torch.compile(mode=...)


EAGER_FP32 = Mode("eager fp32", torch.float32, False, None)
EAGER_BF16 = Mode("eager bf16", torch.bfloat16, False, None)
EAGER_FP16_CL = Mode("eager fp16 channels_last", torch.float16, True, None)
COMPILE_FP16_CL = Mode("compile fp16 channels_last", torch.float16, True, "default")
CUDAGRAPH_FP16_CL = Mode("compile+cudagraphs fp16 channels_last", torch.float16, True, "reduce-overhead")


@dataclass(frozen=True)
class ModelCell:
    mode: str
    device: str
    batch_size: int
    iterations: int
    ms_per_batch: float | None
    img_per_s: float | None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def modes_for(device: str, *, quick: bool) -> list[Mode]:
    if device == "cpu":
        return [EAGER_FP32, EAGER_BF16] if cpu_has_native_bf16() else [EAGER_FP32]
    modes = [EAGER_FP32, EAGER_FP16_CL, COMPILE_FP16_CL]
    return modes if quick else [*modes, CUDAGRAPH_FP16_CL]


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _prepare(mode: Mode, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    net: nn.Module = MODNet().eval().to(device=device, dtype=mode.dtype)
    if mode.channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if mode.compile_mode is not None:
        # dynamic=False: one static graph per batch size, as a serving engine would warm up per bucket.
        net = torch.compile(net, mode=mode.compile_mode, dynamic=False)  # type: ignore[assignment]

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(x, True)[2]

    return forward


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure_cell(
    forward: Callable[[torch.Tensor], torch.Tensor],
    mode: Mode,
    device: str,
    batch_size: int,
    *,
    iterations: int,
    warmup: int,
    time_budget_s: float,
) -> ModelCell:
    x = torch.rand(batch_size, 3, SIDE, SIDE, device=device, dtype=mode.dtype) * 2 - 1
    if mode.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(warmup):  # compile, cudnn autotune, allocator growth: not part of the figure
            forward(x)
        _sync(device)
        done = 0
        started = time.perf_counter()
        while done < iterations and (done == 0 or time.perf_counter() - started < time_budget_s):
            forward(x)
            done += 1
        _sync(device)
        elapsed = time.perf_counter() - started
    return ModelCell(
        mode=mode.name,
        device=device,
        batch_size=batch_size,
        iterations=done,
        ms_per_batch=elapsed / done * 1000.0,
        img_per_s=batch_size * done / elapsed,
    )


def measure(
    device: str,
    batch_sizes: Sequence[int],
    *,
    quick: bool,
    iterations: int,
    time_budget_s: float,
    log: Callable[[str], None] = print,
) -> list[ModelCell]:
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    torch.backends.cudnn.benchmark = True
    cells: list[ModelCell] = []
    for mode in modes_for(device, quick=quick):
        try:
            forward = _prepare(mode, device)
        except Exception as exc:  # e.g. torch.compile without a working toolchain
            cells += [ModelCell(mode.name, device, b, 0, None, None, skipped=repr(exc)) for b in batch_sizes]
            continue
        for batch_size in batch_sizes:
            log(f"model: {mode.name} batch {batch_size} on {device}")
            try:
                cell = measure_cell(
                    forward,
                    mode,
                    device,
                    batch_size,
                    iterations=iterations,
                    warmup=3 if mode.compile_mode else 1,
                    time_budget_s=time_budget_s,
                )
            except Exception as exc:  # CUDA OOM at a large batch, compile failure at first call
                cell = ModelCell(mode.name, device, batch_size, 0, None, None, skipped=repr(exc)[:300])
                if device == "cuda":
                    torch.cuda.empty_cache()
            cells.append(cell)
    if device == "cuda":
        torch.cuda.empty_cache()  # the server measured next shares this GPU
    return cells
