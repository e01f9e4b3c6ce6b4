"""ImageNet initialisation of MODNet's MobileNetV2 backbone from the folded npz in ../shared."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from model.backbone_init import load_imagenet_backbone
from model.modnet import MODNet
from tests.locations import require_shared

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
NPZ = SHARED / "models" / "mobilenet_v2_imagenet_folded.npz"
GRACE_HOPPER = SHARED / "data" / "people" / "unlabeled" / "grace_hopper.bmp"
MILITARY_UNIFORM = 653  # index in the npz's 1001-way logits (0 = background)


@pytest.fixture(autouse=True, scope="module")
def _needs_shared() -> None:
    require_shared(NPZ)
    require_shared(GRACE_HOPPER)


@pytest.fixture(scope="module")
def npz() -> dict[str, np.ndarray]:
    with np.load(NPZ) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def net() -> MODNet:
    torch.manual_seed(0)
    net = MODNet()
    load_imagenet_backbone(net, NPZ)
    return net.eval()


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    img = Image.open(GRACE_HOPPER).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


def _reference_features(npz: dict[str, np.ndarray], x: torch.Tensor) -> torch.Tensor:
    """MobileNetV2 written directly from the npz's conv list (README's graph order), with biases."""

    def conv(x: torch.Tensor, i: int) -> torch.Tensor:
        weight = torch.from_numpy(npz[f"{i:02d}.weight"])
        y = F.conv2d(
            x,
            weight,
            torch.from_numpy(npz[f"{i:02d}.bias"]),
            stride=int(npz[f"{i:02d}.stride"]),
            padding=weight.shape[-1] // 2,
            groups=int(npz[f"{i:02d}.groups"]),
        )
        return F.relu6(y) if int(npz[f"{i:02d}.relu6"]) else y

    x = conv(conv(conv(x, 0), 1), 2)
    for first in range(3, 51, 3):
        y = conv(conv(conv(x, first), first + 1), first + 2)
        x = x + y if x.shape == y.shape else y
    return conv(x, 51)


def test_backbone_features_equal_a_direct_forward_of_the_npz(
    net: MODNet, npz: dict[str, np.ndarray], photo: torch.Tensor
) -> None:
    with torch.inference_mode():
        ours = net.backbone(photo).enc32x
        reference = _reference_features(npz, photo)
    assert ours.shape == (1, 1280, 7, 7)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)


def test_imagenet_classifier_on_our_features_recognises_the_photo(
    net: MODNet, npz: dict[str, np.ndarray], photo: torch.Tensor
) -> None:
    # The npz's own classifier, applied to our pooled features: a wrong copy (order, padding, BN)
    # would not land on the README's documented class.
    with torch.inference_mode():
        pooled = net.backbone(photo).enc32x.mean(dim=(2, 3), keepdim=True)
        logits = F.conv2d(pooled, torch.from_numpy(npz["52.weight"]), torch.from_numpy(npz["52.bias"]))
    assert int(logits.flatten().argmax()) == MILITARY_UNIFORM


def test_batchnorms_become_bias_only_and_other_branches_are_untouched(net: MODNet) -> None:
    fresh = MODNet()
    state = net.state_dict()
    first_bn = net.get_submodule("backbone.model.features.0.1")
    assert isinstance(first_bn, torch.nn.BatchNorm2d)
    assert torch.equal(state["backbone.model.features.0.1.running_mean"], torch.zeros(32))
    assert torch.equal(state["backbone.model.features.0.1.running_var"], torch.ones(32))
    expected_weight = torch.full((32,), math.sqrt(1 + first_bn.eps))
    assert torch.allclose(state["backbone.model.features.0.1.weight"], expected_weight)
    # The LR branch sees the same (initialised) backbone; the decoder heads keep their init.
    assert net.lr_branch.backbone is net.backbone
    head = "f_branch.conv_f.1.layers.0.bias"
    assert torch.equal(net.state_dict()[head], fresh.state_dict()[head])


def test_wrong_npz_is_rejected_before_anything_is_copied(tmp_path: Path, npz: dict[str, np.ndarray]) -> None:
    broken = dict(npz)
    broken["10.weight"] = broken["10.weight"][:, :, :1, :1]  # wrong kernel size
    path = tmp_path / "broken.npz"
    np.savez(path, **broken)  # type: ignore[arg-type]  # numpy's stub confuses **kwds with allow_pickle
    net = MODNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="npz conv 10"):
        load_imagenet_backbone(net, path)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
