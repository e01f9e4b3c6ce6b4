"""Loading official-style checkpoints and the project's safetensors; strict key checking."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.modnet import MODNet
from model.weights import (
    ModelInfo,
    WeightsError,
    load_modnet,
    load_weights,
    read_state_dict,
    save_safetensors,
)

META = {"name": "modnet-people", "version": "v1"}


def _random_net(seed: int, hr_channels: int = 32) -> MODNet:
    torch.manual_seed(seed)
    net = MODNet(hr_channels=hr_channels)
    # Non-trivial BN statistics, so that copying buffers (not only parameters) is tested.
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _matte(net: MODNet, img: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return net(img, inference=True)[2]


@pytest.fixture(scope="module")
def img() -> torch.Tensor:
    torch.manual_seed(123)
    return torch.rand(1, 3, 64, 64) * 2 - 1


@pytest.mark.parametrize("wrap", [False, True], ids=["plain", "state_dict-wrapped"])
def test_official_style_checkpoint_loads_unchanged(tmp_path: Path, img: torch.Tensor, wrap: bool) -> None:
    source = _random_net(seed=1)
    # As saved from nn.DataParallel: every key prefixed with `module.`, both backbone aliases present.
    state = {f"module.{k}": v.clone() for k, v in source.state_dict().items()}
    path = tmp_path / "modnet_photographic_portrait_matting.ckpt"
    torch.save({"state_dict": state} if wrap else state, path)

    target = _random_net(seed=2)
    assert not torch.equal(_matte(source, img), _matte(target, img))
    info = load_weights(target, path)

    assert torch.equal(_matte(source, img), _matte(target, img))
    assert info.name == "modnet_photographic_portrait_matting"
    assert info.version == "official"
    assert len(info.sha256_prefix) == 8


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_safetensors_round_trip(tmp_path: Path, img: torch.Tensor, dtype: torch.dtype) -> None:
    source = _random_net(seed=3)
    path = tmp_path / "export" / "modnet_people.safetensors"
    save_safetensors(source, path, META, dtype=dtype)

    state, info = read_state_dict(path)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {dtype}
    assert set(state) == set(source.state_dict())  # the backbone alias is restored on load

    loaded, info2 = load_modnet(path)
    assert info2 == info
    assert info.label == f"modnet-people-v1 (sha256:{info.sha256_prefix})"
    # Every tensor equals the source rounded to the file's dtype (random nets are too chaotic for an
    # output tolerance to mean anything at fp16, so compare the weights themselves).
    source_state, loaded_state = source.state_dict(), loaded.state_dict()
    for key, value in source_state.items():
        rounded = value.to(dtype).to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(loaded_state[key], rounded), key
    if dtype == torch.float32:
        assert torch.equal(_matte(source, img), _matte(loaded, img))


def test_export_stores_the_shared_backbone_once_and_in_int_for_counters(tmp_path: Path) -> None:
    from safetensors import safe_open

    path = tmp_path / "m.safetensors"
    save_safetensors(_random_net(seed=4), path, META)
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
        counter = f.get_tensor("backbone.model.features.0.1.num_batches_tracked")
        meta = f.metadata()
    assert not any(k.startswith("lr_branch.backbone.") for k in keys)
    assert counter.dtype == torch.int64
    assert meta["name"] == "modnet-people" and meta["hr_channels"] == "32"


def test_sha256_prefix_identifies_the_file_contents(tmp_path: Path) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_safetensors(_random_net(seed=5), a, META)
    save_safetensors(_random_net(seed=6), b, META)
    info_a, info_b = read_state_dict(a)[1], read_state_dict(b)[1]
    assert info_a.sha256_prefix != info_b.sha256_prefix
    assert isinstance(info_a, ModelInfo)


def test_load_modnet_infers_hr_channels(tmp_path: Path) -> None:
    path = tmp_path / "narrow.safetensors"
    save_safetensors(_random_net(seed=7, hr_channels=16), path, META)
    net, _ = load_modnet(path)
    assert net.hr_channels == 16


def test_wrong_width_names_the_mismatched_shapes(tmp_path: Path) -> None:
    path = tmp_path / "narrow.safetensors"
    save_safetensors(_random_net(seed=8, hr_channels=16), path, META)
    with pytest.raises(WeightsError, match=r"shape mismatches: hr_branch\.") as err:
        load_weights(MODNet(hr_channels=32), path)
    assert "file [16" in str(err.value)


def test_missing_and_unexpected_keys_are_listed(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in _random_net(seed=9).state_dict().items()}
    del state["module.f_branch.conv_f.1.layers.0.bias"]
    state["module.extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as err:
        load_weights(MODNet(), path)
    message = str(err.value)
    assert "1 missing keys: f_branch.conv_f.1.layers.0.bias" in message
    assert "1 unexpected keys: extra.weight" in message


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_corrupt_file_raises_weights_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(b"\x00\x01 definitely not weights" * 10)
    with pytest.raises(WeightsError, match="corrupt"):
        read_state_dict(path)


def test_truncated_safetensors_raises_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(_random_net(seed=10), path, META)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError):
        read_state_dict(path)


def test_safetensors_without_name_and_version_is_rejected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "anon.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"name": "x"})
    with pytest.raises(WeightsError, match="version"):
        read_state_dict(path)
    with pytest.raises(ValueError, match="version"):
        save_safetensors(MODNet(), tmp_path / "y.safetensors", {"name": "x"})


def test_non_finite_weights_are_rejected(tmp_path: Path) -> None:
    net = _random_net(seed=11)
    head = net.get_submodule("f_branch.conv_f.1.layers.0")
    assert isinstance(head, torch.nn.Conv2d) and head.bias is not None
    with torch.no_grad():
        head.bias.fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    save_safetensors(net, path, META, dtype=torch.float32)
    with pytest.raises(WeightsError, match="non-finite"):
        read_state_dict(path)


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    odd = tmp_path / "weights.onnx"
    odd.write_bytes(b"x")
    with pytest.raises(WeightsError, match="unsupported"):
        read_state_dict(odd)
    with pytest.raises(WeightsError, match="not found"):
        read_state_dict(tmp_path / "absent.safetensors")
