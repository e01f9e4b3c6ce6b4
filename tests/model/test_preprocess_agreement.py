"""Training-time and serving-time mattes agree: `model.training.inference.predict_alpha` (what
validation scores) and `model.serving.ModnetEngine` (what the service returns) give the same alpha
for the same network, weights' levels included."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from model.modnet import MODNet
from model.serving import ModnetEngine
from model.training.inference import predict_alpha
from model.weights import ModelInfo
from service.imaging.matte_scale import matte_at_full_size

SIZE = 128
LEVELS = (0.03, 0.91)
INFO = ModelInfo(name="modnet-test", version="v0", sha256_prefix="00000000")


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([np.sin(xx / 7 + yy / 11) * 100 + 128, yy * 255 / height, xx * 255 / width], axis=-1)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def net() -> MODNet:
    torch.manual_seed(0)
    return MODNet().eval()


@pytest.mark.parametrize("levels", [None, LEVELS])
@pytest.mark.parametrize(
    "shape",
    [(96, 80), (150, 200), (300, 170)],  # entirely smaller, between the bounds, entirely larger
)
def test_training_and_serving_mattes_agree(
    net: MODNet, shape: tuple[int, int], levels: tuple[float, float] | None
) -> None:
    photo = _photo(*shape, seed=shape[0])
    info = dataclasses.replace(INFO, alpha_levels=levels)
    # The engine converts the module it is given in place; training keeps using its own.
    engine = ModnetEngine(copy.deepcopy(net), info, device=torch.device("cpu"), inference_size=SIZE)
    served = matte_at_full_size(engine, photo)  # shrink, engine, upsample: the pipeline's way
    validated = predict_alpha(net, photo, SIZE, levels=levels or (0.0, 1.0))
    assert validated.shape == served.shape == shape
    assert validated.dtype == served.dtype == np.float32
    np.testing.assert_allclose(validated, served, atol=1e-6)


def test_levels_change_the_matte(net: MODNet) -> None:
    # Guards the agreement test above against levels being silently ignored on both sides.
    photo = _photo(150, 200, seed=1)
    plain = predict_alpha(net, photo, SIZE)
    stretched = predict_alpha(net, photo, SIZE, levels=LEVELS)
    assert np.abs(plain - stretched).max() > 0.01
