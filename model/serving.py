"""The MODNet matting engine the service loads as a plugin (`model.serving:create_engine`).

`ModnetEngine` satisfies `service.contract.MattingEngine` structurally and `create_engine` its
`EngineFactory`; the service does not import torch. Pre- and postprocessing live in
`model.preprocess`, shared with training validation. The engine runs the network only: the service
shrinks each photo to `input_size` before queueing it and upsamples the low-resolution matte it gets
back (`service.imaging.matte_scale`), both in its CPU pool. The forward pass runs on the runtime
`cpu_runtime` picks (`model.runtime_select`: ONNX Runtime or torch on CPU, torch on CUDA).

Errors: `ModelOutOfMemory` (a `service.contract.EngineOutOfMemory`, hence a `MemoryError`) when the
device (or host) cannot allocate a batch. Anything else propagates unchanged and fails the batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from model.modnet import MODNet
from model.preprocess import (
    DEFAULT_INFERENCE_SIZE,
    NO_LEVELS,
    STRIDE,
    ArrayForward,
    Forward,
    matte_head,
    network_input_size,
    predict_same_size,
    predict_same_size_arrays,
)
from model.runtime_select import build_forward
from model.weights import ModelInfo, load_modnet
from service.contract import Alpha, EngineOutOfMemory, RGBImage
from service.imaging.matte_scale import shrink

log = logging.getLogger(__name__)

SERVING_SHAPE = (1080, 1920)  # the photo size warm-up runs at: the typical request


class ModelOutOfMemory(EngineOutOfMemory):
    """The device (CUDA, or the host for CPU inference) could not allocate memory for a batch.

    The batch fails; the engine stays usable (cached CUDA blocks are released first), so a smaller
    batch or a later retry can succeed.
    """


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


class ModnetEngine:
    """Batched MODNet inference: fp16 + channels_last on CUDA, fp32 (ONNX Runtime or torch) on CPU.

    Images arrive at their network input size (`input_size`) and alphas leave at it. An image of
    another size is shrunk here first (callers outside the service); `predict_batch` groups its
    images by network input size (the `bucket_key`), so it is correct even when handed a mixed
    batch, and splits groups larger than `max_batch_size`.
    """

    name = "modnet"

    def __init__(
        self,
        net: MODNet,
        info: ModelInfo,
        *,
        device: torch.device,
        inference_size: int = DEFAULT_INFERENCE_SIZE,
        max_batch_size: int = 16,
        cpu_bf16: bool = False,
        forward: Forward | None = None,
        runtime: str = "torch",
        flip_average: bool = False,
    ) -> None:
        if inference_size < STRIDE:
            raise ValueError(f"inference_size must be at least {STRIDE}, got {inference_size}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.model_id = info.label
        self.info = info
        self.device = device
        self.inference_size = inference_size
        # Levels fitted at export (`model.preprocess.stretch_levels`); older weights have none.
        self.alpha_levels = info.alpha_levels or NO_LEVELS
        self.max_batch_size = max_batch_size
        self._cuda = device.type == "cuda"
        # Half precision and NHWC are what the tensor cores want; on CPU fp32 NCHW is fastest.
        self.dtype = torch.float16 if self._cuda else torch.float32
        net = net.eval().requires_grad_(False).to(device=device, dtype=self.dtype)
        if self._cuda:
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        # bf16 autocast on a CPU with native bf16 (AVX512-BF16/AMX), opt-in: with the shipped
        # weights 1080p at 320 took 128 ms vs 202 ms in fp32 on the 2-core dev box, but validation
        # IoU fell 0.870 -> 0.861 (MAE 0.038 -> 0.040), so fp32 stays the default.
        self._cpu_bf16 = cpu_bf16 and not self._cuda
        # CPU threads stay at torch's default (one per core): the batcher calls us from one thread.
        self._net: MODNet | None = net
        # The runtime hook (model/runtime_select.py): `forward` replaces the network's own forward
        # pass (ONNX Runtime on CPU); pre- and post-processing are the same for every runtime.
        self._forward: Forward | None = forward or matte_head(net)
        self.runtime = runtime if forward is not None else "torch"
        # Flip averaging (test-time augmentation): each photo also runs mirrored, and the alpha is the
        # mean of the two (the mirrored one mirrored back). Both go through one forward pass, so a
        # batch of n photos is a batch of 2n images: half as many photos per chunk keeps the memory
        # `max_batch_size` promises. It costs a second network pass per photo for a measured gain
        # (bench/flip_average.py; README "Model").
        self.flip_average = flip_average
        self._photos_per_chunk = max(1, max_batch_size // 2) if flip_average else max_batch_size

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """The network input (h, w) for a photo of that size; alphas come back at it."""
        return network_input_size(height, width, self.inference_size)

    def bucket_key(self, image: RGBImage) -> tuple[int, int]:
        """The network input (h, w): MODNet's InstanceNorm makes padding change results, so only
        images resized to the same shape may share a batch."""
        return self.input_size(image.shape[0], image.shape[1])

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, image in enumerate(images):
            groups[self.bucket_key(image)].append(index)
        alphas: dict[int, Alpha] = {}
        for size, indices in groups.items():
            for start in range(0, len(indices), self._photos_per_chunk):
                chunk = indices[start : start + self._photos_per_chunk]
                results = self._predict_same_size([images[i] for i in chunk], size)
                alphas.update(zip(chunk, results, strict=True))
        return [alphas[i] for i in range(len(images))]

    def warmup(self) -> None:
        """One forward at the serving shape (a 1080p photo's input), so the first request does not
        pay kernel selection."""
        gray = np.full((*self.input_size(*SERVING_SHAPE), 3), 128, dtype=np.uint8)
        self.predict_batch([gray])
        if self._cuda:
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self._net = None
        self._forward = None
        if self._cuda:
            torch.cuda.empty_cache()

    def _predict_same_size(self, images: Sequence[RGBImage], size: tuple[int, int]) -> list[Alpha]:
        small = [shrink(image, size) for image in images]
        if not self.flip_average:
            return self._run_network(small, size)
        alphas = self._run_network(small + [np.ascontiguousarray(image[:, ::-1]) for image in small], size)
        count = len(small)
        return [
            np.ascontiguousarray((alpha + mirrored[:, ::-1]) * 0.5, dtype=np.float32)
            for alpha, mirrored in zip(alphas[:count], alphas[count:], strict=True)
        ]

    def _run_network(self, small: Sequence[RGBImage], size: tuple[int, int]) -> list[Alpha]:
        forward = self._forward
        if forward is None:
            raise RuntimeError("the MODNet engine is closed")
        try:
            if isinstance(forward, ArrayForward):  # ONNX Runtime: numpy in and out, no torch around it
                return predict_same_size_arrays(forward, small, levels=self.alpha_levels)
            with torch.inference_mode():
                return predict_same_size(
                    forward,
                    small,
                    device=self.device,
                    dtype=self.dtype,
                    levels=self.alpha_levels,
                    cpu_bf16=self._cpu_bf16,
                    channels_last=self._cuda,
                )
        except (RuntimeError, MemoryError) as exc:
            if not _is_out_of_memory(exc):
                raise
            if self._cuda:
                torch.cuda.empty_cache()
            raise ModelOutOfMemory(
                f"out of memory on {self.device} for {len(small)} image(s) at {size[0]}x{size[1]}"
            ) from exc


def _is_out_of_memory(exc: RuntimeError | MemoryError) -> bool:
    # CUDA raises torch.OutOfMemoryError; torch's CPU allocator a plain RuntimeError; numpy (the
    # ONNX Runtime path's batch) a MemoryError.
    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or "can't allocate memory" in str(exc)


def create_engine(
    *,
    weights_path: Path,
    device: str = "auto",
    inference_size: int = 0,
    max_batch_size: int = 16,
    cpu_precision: str = "fp32",
    cpu_runtime: str = "auto",
    onnx_cache_dir: Path | None = None,
    flip_average: bool = False,
) -> ModnetEngine | None:
    """The service's MODNet factory: None when `weights_path` does not exist; raises
    `model.weights.WeightsError` for a corrupt or mismatched file, ValueError for a bad device.

    `cpu_precision` ("fp32", "bf16" or "auto": bf16 where the CPU has it natively) applies on CPU
    only; CUDA always runs fp16. `inference_size` 0 means the size the weights were trained for
    (their metadata), else 512: a network trained on 320-pixel portraits is both better and faster
    at 320 than at 512. `cpu_runtime` ("auto", "torch", "onnx") picks what runs the forward pass on
    CPU (model/runtime_select.py); `onnx_cache_dir` is where the ONNX export is cached.
    `flip_average` also runs each photo mirrored and averages the two alphas (twice the network
    work, see `ModnetEngine`)."""
    weights_path = Path(weights_path)
    if not weights_path.exists():
        return None
    resolved = resolve_device(device)
    net, info = load_modnet(weights_path)
    size = inference_size or info.inference_size or DEFAULT_INFERENCE_SIZE
    if cpu_precision not in ("fp32", "bf16", "auto"):
        raise ValueError(f"cpu_precision must be fp32, bf16 or auto, got {cpu_precision!r}")
    bf16 = cpu_precision == "bf16" or (cpu_precision == "auto" and cpu_has_native_bf16())
    runtime, forward = build_forward(
        net.float(), cpu_runtime, device=resolved, bf16=bf16, cache_dir=onnx_cache_dir
    )
    log.info(
        "MODNet %s on %s (inference size %d%s%s, runtime %s)",
        info.label,
        resolved,
        size,
        ", bf16" if bf16 else "",
        ", flip averaged" if flip_average else "",
        runtime,
    )
    return ModnetEngine(
        net,
        info,
        device=resolved,
        inference_size=size,
        max_batch_size=max_batch_size,
        cpu_bf16=bf16,
        forward=forward,
        runtime=runtime,
        flip_average=flip_average,
    )


def cpu_has_native_bf16() -> bool:
    """oneDNN's own check (AVX512-BF16 or AMX): emulated bf16 would be slower than fp32."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
