"""MODNet's structure: official state-dict names/shapes, output shapes, inference vs training mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.modnet import MODNet
from tests.locations import require_shared

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
OFFICIAL_KEYS = SHARED / "modnet" / "official_state_dict_keys.json"


@pytest.fixture(scope="module")
def net() -> MODNet:
    torch.manual_seed(0)
    return MODNet()


def test_state_dict_matches_official_checkpoint_keys_and_shapes(net: MODNet) -> None:
    official = json.loads(require_shared(OFFICIAL_KEYS).read_text())["keys"]
    expected = {key.removeprefix("module."): shape for key, shape in official.items()}
    ours = {key: list(tensor.shape) for key, tensor in net.state_dict().items()}

    assert sorted(set(expected) - set(ours)) == []
    assert sorted(set(ours) - set(expected)) == []
    mismatched = {k: (ours[k], expected[k]) for k in expected if ours[k] != expected[k]}
    assert mismatched == {}


def test_backbone_is_shared_with_lr_branch(net: MODNet) -> None:
    assert net.lr_branch.backbone is net.backbone
    state = net.state_dict()
    key = "model.features.0.0.weight"
    assert state[f"backbone.{key}"].data_ptr() == state[f"lr_branch.backbone.{key}"].data_ptr()


def test_training_mode_returns_three_predictions_with_reference_shapes(net: MODNet) -> None:
    net.train()
    img = torch.rand(2, 3, 64, 96) * 2 - 1
    semantic, detail, matte = net(img)
    assert semantic is not None and detail is not None
    assert semantic.shape == (2, 1, 4, 6)
    assert detail.shape == (2, 1, 64, 96)
    assert matte.shape == (2, 1, 64, 96)
    for pred in (semantic, detail, matte):
        assert pred.min() >= 0 and pred.max() <= 1  # sigmoids applied
    # Every parameter must receive a gradient from the three losses (no dead heads).
    (semantic.mean() + detail.mean() + matte.mean()).backward()
    no_grad = [name for name, p in net.named_parameters() if p.grad is None]
    assert no_grad == []
    net.zero_grad(set_to_none=True)


def test_inference_mode_computes_only_the_matte_and_agrees_with_training_forward(net: MODNet) -> None:
    net.eval()
    img = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.inference_mode():
        semantic, detail, matte = net(img, inference=True)
        _, _, matte_full = net(img, inference=False)
    assert semantic is None and detail is None
    assert matte.shape == (1, 1, 64, 96)
    torch.testing.assert_close(matte, matte_full)
