"""MODNet's way from a photo to a matte and back, shared by serving (`model.serving.ModnetEngine`)
and training validation (`model.training.inference.predict_alpha`), so that a score measured while
training is the score of what the service will serve.

It follows the MODNet reference demo: the network input size keeps the photo when it lies between
the bounds and otherwise scales its short side to `inference_size`, both sides floored to multiples
of 32 (plus a long-side cap); 'area' resize (on uint8, in the service's CPU pool:
`service.imaging.matte_scale.shrink`), then RGB scaled to [-1, 1]; the matte's levels stretched to
exact 0 and 1 where the weights carry them; back to the photo's size edge-aware
(`matte_scale.upsample`, guided by the photo), also in the CPU pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from service.contract import Alpha, RGBImage
from service.imaging.matte_scale import shrink, upsample

STRIDE = 32  # MODNet downsamples by 32, so both input sides must be multiples of it
# The network input's long side is capped at this many times `inference_size` (its short side then
# shrinks, down to STRIDE): without it a 1 x 20000 strip would be fed at full length, and an image
# already between the bounds is kept at its own size by the reference rule.
MAX_LONG_SIDE_FACTOR = 4
# The reference's short side (the MODNet demo's ref_size), for weights that do not name their own.
DEFAULT_INFERENCE_SIZE = 512
NO_LEVELS = (0.0, 1.0)
Forward = Callable[[torch.Tensor], torch.Tensor]  # [B, 3, h, w] in [-1, 1] -> matte [B, 1, h, w]


def network_input_size(height: int, width: int, inference_size: int) -> tuple[int, int]:
    """(h, w) of the network input for an image, following the reference demo plus a long-side cap."""
    if height < 1 or width < 1:
        raise ValueError(f"empty image {height}x{width}")
    h, w = float(height), float(width)
    if max(h, w) < inference_size or min(h, w) > inference_size:
        # Entirely smaller or entirely larger: scale so that the short side is `inference_size`.
        scale = inference_size / min(h, w)
        h, w = h * scale, w * scale
    cap = MAX_LONG_SIDE_FACTOR * inference_size
    if max(h, w) > cap:
        scale = cap / max(h, w)
        h, w = h * scale, w * scale
    return _floor_to_stride(h), _floor_to_stride(w)


def _floor_to_stride(side: float) -> int:
    # int() truncates as the reference does; the result never drops below one stride.
    return max(STRIDE, int(side) - int(side) % STRIDE)


def _check_network_image(image: RGBImage) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")


def to_network_input(image: RGBImage, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """HxWx3 uint8 RGB, already at its network input size (`shrink`) -> [1, 3, H, W] in [-1, 1]."""
    _check_network_image(image)
    if not image.flags.writeable:
        image = image.copy()  # torch.from_numpy warns on read-only arrays
    x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float()  # [1, 3, H, W]
    return ((x / 255.0 - 0.5) / 0.5).to(dtype)


Matte = TypeVar("Matte", torch.Tensor, npt.NDArray[np.float32])


def stretch_levels(matte: Matte, levels: tuple[float, float]) -> Matte:
    """A briefly trained network never quite reaches 0 and 1 (background at 1-5/255 is a faint
    ghost of the old background in every cut-out); its levels stretch to exact 0 and 1. The same
    arithmetic on a torch tensor or a float32 array (float32 stays float32 either way)."""
    lo, hi = levels
    return matte if (lo, hi) == NO_LEVELS else (matte - lo) / (hi - lo)


def matte_head(net: nn.Module) -> Forward:
    """MODNet's forward in inference mode, the matte head only: [B, 3, h, w] -> [B, 1, h, w]."""

    def forward(batch: torch.Tensor) -> torch.Tensor:
        matte: torch.Tensor = net(batch, True)[2]
        return matte

    return forward


def predict_same_size(
    forward: Forward,
    images: Sequence[RGBImage],
    *,
    device: torch.device,
    dtype: torch.dtype,
    levels: tuple[float, float] = NO_LEVELS,
    cpu_bf16: bool = False,
    channels_last: bool = False,
) -> list[Alpha]:
    """Low-resolution alphas (the network's own resolution, levels stretched, in [0, 1]) for images
    already shrunk to one network input size, in one forward pass; `upsample` brings them to the
    photo. `forward` is `matte_head(net)` or another runtime's; the caller chooses the grad mode."""
    batch = torch.cat([to_network_input(im, device, dtype) for im in images])
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16):
        matte = forward(batch).float()  # [B, 1, h, w]
    matte = stretch_levels(matte, levels).clamp_(0.0, 1.0).cpu()
    return [np.ascontiguousarray(matte[i, 0].numpy(), dtype=np.float32) for i in range(len(images))]


@runtime_checkable
class ArrayForward(Protocol):
    """A runtime that takes numpy batches directly (ONNX Runtime): [B, 3, h, w] float32 in [-1, 1]
    -> matte [B, 1, h, w] float32, before the level stretch."""

    def run_array(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


def predict_same_size_arrays(
    forward: ArrayForward, images: Sequence[RGBImage], *, levels: tuple[float, float] = NO_LEVELS
) -> list[Alpha]:
    """`predict_same_size` for a runtime that takes numpy arrays, with the same normalisation and
    level stretch in numpy (equal to float rounding). Why not torch around it: torch runs the
    normalisation of a 320 x 544 batch in its own OpenMP threads, which then compete with ONNX
    Runtime's threads for the same cores: the engine's call at 320 x 544 took 167-169 ms with it and
    152-161 ms without (2-core EPYC, interleaved medians; max |Δalpha| 3.5e-6)."""
    for image in images:
        _check_network_image(image)
    batch = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)  # [B, 3, h, w], one copy
    batch *= np.float32(2.0 / 255.0)
    batch -= np.float32(1.0)
    matte = stretch_levels(forward.run_array(batch)[:, 0], levels)
    np.clip(matte, 0.0, 1.0, out=matte)
    return [np.ascontiguousarray(m, dtype=np.float32) for m in matte]


def predict_full_size(
    net: nn.Module, image: RGBImage, inference_size: int, *, levels: tuple[float, float] = NO_LEVELS
) -> Alpha:
    """One photo the served way (shrink, network, levels, edge-aware upsampling) on whatever device
    and dtype `net` is in: what training validation scores."""
    parameter = next(net.parameters())
    small = shrink(image, network_input_size(image.shape[0], image.shape[1], inference_size))
    (alpha,) = predict_same_size(
        matte_head(net), [small], device=parameter.device, dtype=parameter.dtype, levels=levels
    )
    return upsample(image, alpha)
