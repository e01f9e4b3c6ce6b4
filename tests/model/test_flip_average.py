"""Flip averaging in the MODNet engine (`BGREMOVE_FLIP_AVERAGE`): the mean of the photo's matte and its
mirror image's, one forward pass within `max_batch_size`, wired from the settings (real network, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.modnet import MODNet
from model.preprocess import matte_head
from model.serving import ModnetEngine
from tests.model.test_serving_engine import INFO, SIZE, _image


@pytest.fixture(scope="module")
def net() -> MODNet:
    torch.manual_seed(1)
    return MODNet().eval()


def test_flip_averaging_makes_the_matte_mirror_with_the_photo(net: MODNet) -> None:
    plain = ModnetEngine(net, INFO, device=torch.device("cpu"), inference_size=SIZE)
    averaged = ModnetEngine(net, INFO, device=torch.device("cpu"), inference_size=SIZE, flip_average=True)
    image = _image(150, 210, 5)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    # The network alone is not mirror-symmetric (a random one least of all), so this can fail...
    assert np.abs(plain.predict_batch([mirrored])[0] - plain.predict_batch([image])[0][:, ::-1]).max() > 0.01
    # ...and the averaged matte is the mean of the photo's and its mirror image's, mirrored back.
    (alpha,) = averaged.predict_batch([image])
    expected = (plain.predict_batch([image])[0] + plain.predict_batch([mirrored])[0][:, ::-1]) / 2
    np.testing.assert_allclose(alpha, expected, atol=1e-5)
    np.testing.assert_allclose(averaged.predict_batch([mirrored])[0], alpha[:, ::-1], atol=1e-5)
    assert alpha.dtype == np.float32 and alpha.flags.c_contiguous


def test_flip_averaging_keeps_the_forward_batch_within_max_batch_size(net: MODNet) -> None:
    seen: list[int] = []
    head = matte_head(net)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch.shape[0])
        return head(batch)

    engine = ModnetEngine(
        net,
        INFO,
        device=torch.device("cpu"),
        inference_size=SIZE,
        max_batch_size=4,
        forward=forward,
        flip_average=True,
    )
    alphas = engine.predict_batch([_image(128, 128, seed) for seed in range(5)])
    assert len(alphas) == 5 and seen == [4, 4, 2]  # two photos (and their mirror images) per pass


def test_the_loader_passes_flip_averaging_to_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.config import Settings
    from service.engines import loader

    seen: dict[str, object] = {}
    monkeypatch.setattr(loader, "import_string", lambda path: lambda **kwargs: seen.update(kwargs))
    loader.load_engines(Settings())
    assert seen["flip_average"] is False
    monkeypatch.setenv("BGREMOVE_FLIP_AVERAGE", "true")
    loader.load_engines(Settings())
    assert seen["flip_average"] is True
