"""Reading and writing MODNet weights: official checkpoints and the project's own safetensors.

Two formats load into `MODNet` unchanged:
- official `.ckpt` / `.pth` / `.pt`: a `torch.save`d state dict saved from `nn.DataParallel` (keys start
  with `module.`), possibly wrapped as `{"state_dict": ...}`; read with `weights_only=True`.
- the project's `.safetensors`: keys without `module.`, fp16 or fp32, metadata with at least "name"
  and "version" (e.g. "modnet-people" / "v1"), written by `save_safetensors`.

The backbone is registered twice in MODNet (`backbone.*` and `lr_branch.backbone.*` are the same
tensors); our files store it once and loading restores the alias. Key checking is strict.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from model.modnet import MODNet

CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt")
SAFETENSORS_SUFFIX = ".safetensors"
FORMAT_TAG = "bgremove-modnet/1"

_DP_PREFIX = "module."
_BACKBONE = "backbone."
_BACKBONE_ALIAS = "lr_branch.backbone."
_SHA_PREFIX_LEN = 8
_MAX_LISTED = 5


class WeightsError(ValueError):
    """The weights file is unreadable, corrupt, or does not fit the network."""


@dataclass(frozen=True)
class ModelInfo:
    """What a weights file is, for `X-Model` and logs."""

    name: str
    version: str
    sha256_prefix: str
    # The short side the weights were trained and validated for (safetensors metadata
    # "inference_size"); None for files that do not say (official checkpoints: 512).
    inference_size: int | None = None
    # (lo, hi): the network's output levels for sure background and sure foreground (metadata
    # "alpha_levels", fitted at export), stretched to exact 0 and 1; None: use the output as is.
    alpha_levels: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """E.g. "modnet-people-v1 (sha256:abcd1234)"."""
        return f"{self.name}-{self.version} (sha256:{self.sha256_prefix})"


def file_sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:_SHA_PREFIX_LEN]


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], ModelInfo]:
    """Reads either format into plain MODNet keys (no `module.`, backbone alias filled in), on CPU."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        state, metadata = _read_safetensors(path)
        missing = [k for k in ("name", "version") if not metadata.get(k)]
        if missing:
            raise WeightsError(f"{path}: safetensors metadata lacks {missing} (has {sorted(metadata)})")
        name, version = metadata["name"], metadata["version"]
        inference_size = _inference_size(path, metadata.get("inference_size"))
        levels = _alpha_levels(path, metadata.get("alpha_levels"))
    elif suffix in CHECKPOINT_SUFFIXES:
        state = _read_checkpoint(path)
        name, version, inference_size, levels = path.stem, "official", None, None
    else:
        raise WeightsError(
            f"{path}: unsupported weights format {suffix!r}; "
            f"expected {SAFETENSORS_SUFFIX} or one of {CHECKPOINT_SUFFIXES}"
        )
    state = _with_backbone_alias(_strip_prefix(state))
    _check_finite(path, state)
    prefix = file_sha256_prefix(path)
    return state, ModelInfo(name, version, prefix, inference_size, levels)


def _alpha_levels(path: Path, text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(part) for part in text.split(","))
    except ValueError:
        lo, hi = 1.0, 0.0  # reported below
    if not 0.0 <= lo < hi <= 1.0:
        raise WeightsError(f"{path}: metadata alpha_levels {text!r} is not 'lo,hi' with 0 <= lo < hi <= 1")
    return lo, hi


def _inference_size(path: Path, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 32 <= int(text) <= 2048:
        raise WeightsError(f"{path}: metadata inference_size {text!r} is not a size from 32 to 2048")
    return int(text)


def load_weights(net: nn.Module, path: Path) -> ModelInfo:
    """Loads `path` into `net` in place; raises `WeightsError` naming any key or shape mismatch."""
    state, info = read_state_dict(path)
    _check_matches(path, net, state)
    net.load_state_dict(state, strict=True)
    return info


def load_modnet(path: Path) -> tuple[MODNet, ModelInfo]:
    """Builds a `MODNet` whose width fits the file (hr_channels read from a tensor shape), loaded,
    in eval mode (call `.train()` to fine-tune)."""
    state, info = read_state_dict(path)
    key = "hr_branch.conv_hr.0.layers.0.weight"  # [hr, hr + 3, 3, 3]
    if key not in state or state[key].dim() != 4:
        raise WeightsError(f"{path}: not a MODNet state dict (no {key})")
    net = MODNet(hr_channels=int(state[key].shape[0]))
    _check_matches(path, net, state)
    net.load_state_dict(state, strict=True)
    return net.eval(), info


def save_safetensors(
    net: nn.Module, path: Path, metadata: Mapping[str, str], dtype: torch.dtype = torch.float16
) -> None:
    """Writes `net`'s state dict (floating tensors cast to `dtype`, the backbone once) atomically.

    `metadata` needs "name" and "version" (strings); `X-Model` shows them as "{name}-{version}".
    """
    missing = [k for k in ("name", "version") if not metadata.get(k)]
    if missing:
        raise ValueError(f"metadata needs non-empty {missing}")
    meta = {"format": FORMAT_TAG, **{str(k): str(v) for k, v in metadata.items()}}
    if isinstance(net, MODNet):
        meta.setdefault("hr_channels", str(net.hr_channels))
    tensors: dict[str, torch.Tensor] = {}
    for key, value in net.state_dict().items():
        if key.startswith(_BACKBONE_ALIAS):
            continue  # the same tensors as `backbone.*`; safetensors refuses shared storage anyway
        value = value.detach().to("cpu")
        if value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)  # a reader never sees a half-written file


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: corrupt or unreadable safetensors file: {exc}") from exc
    return state, metadata


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad pickle/zip; all mean "corrupt"
        raise WeightsError(f"{path}: corrupt or unreadable checkpoint: {exc}") from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise WeightsError(f"{path}: checkpoint is not a state dict of tensors")
    return dict(obj)


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if state and all(k.startswith(_DP_PREFIX) for k in state):
        return {k[len(_DP_PREFIX) :]: v for k, v in state.items()}
    return state


def _with_backbone_alias(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = dict(state)
    for key, value in state.items():
        if key.startswith(_BACKBONE):
            out.setdefault(_BACKBONE_ALIAS + key[len(_BACKBONE) :], value)
    return out


def _check_finite(path: Path, state: dict[str, torch.Tensor]) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise WeightsError(f"{path}: non-finite values in {_listing(bad)}")


def _check_matches(path: Path, net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} (file {list(state[k].shape)}, model {list(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{len(items)} {what}: {_listing(items)}"
        for what, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", wrong_shape),
        )
        if items
    ]
    if problems:
        raise WeightsError(f"{path} does not fit {type(net).__name__}: " + "; ".join(problems))


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")
