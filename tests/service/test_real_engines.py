"""The HTTP API with the real engines: GrabCut on a real photo, MODNet loaded through its plugin
factory from a safetensors file (random weights: the plumbing, not the quality, is under test)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.apprunner import make_settings, running_app
from tests.locations import PEOPLE, require_shared

PHOTOS = PEOPLE / "segmentation-remove-bg"


@pytest.fixture(autouse=True, scope="module")
def _needs_shared() -> None:
    require_shared(PHOTOS)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    return float((pred & truth).sum() / max((pred | truth).sum(), 1))


async def test_grabcut_through_the_api_on_a_real_photo() -> None:
    photo = PHOTOS / "images" / "10.jpg"
    truth_img = Image.open(PHOTOS / "masks" / "10.png").convert("L")
    async with running_app(make_settings()) as client:
        r = await client.post(
            "/remove-background?output=mask", files={"image": ("10.jpg", photo.read_bytes())}
        )
        ready = (await client.get("/readyz")).json()
    assert r.status_code == 200, r.text
    assert r.headers["x-engine"] == "grabcut"
    assert ready["default_engine"] == "grabcut"
    mask = Image.open(io.BytesIO(r.content))
    assert mask.size == Image.open(photo).size
    truth = np.asarray(truth_img.resize(mask.size)) > 127
    # Loose floor: this checks the wiring (right image, right orientation, a person-shaped region),
    # the engine's own tests hold its quality bar.
    assert iou(np.asarray(mask) > 127, truth) > 0.5


@pytest.fixture(scope="module")
def random_modnet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from model.modnet import MODNet
    from model.weights import save_safetensors

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "random.safetensors"
    save_safetensors(MODNet().eval(), path, {"name": "modnet-random", "version": "test"})
    return path


async def test_modnet_is_picked_up_when_weights_exist(random_modnet_weights: Path) -> None:
    photo = (PHOTOS / "images" / "10.jpg").read_bytes()
    settings = make_settings(weights_path=random_modnet_weights, device="cpu", max_batch_wait_ms=50)
    async with running_app(settings) as client:
        ready = (await client.get("/readyz")).json()
        r = await client.post("/remove-background?output=rgba", files={"image": ("p.jpg", photo)})
        grab = await client.post(
            "/remove-background?engine=grabcut&output=mask", files={"image": ("p.jpg", photo)}
        )
    assert ready["default_engine"] == "modnet"
    assert r.status_code == 200, r.text
    assert r.headers["x-engine"] == "modnet"
    assert "modnet-random" in r.headers["x-model"]
    result = Image.open(io.BytesIO(r.content))
    assert result.mode == "RGBA" and result.size == Image.open(io.BytesIO(photo)).size
    assert grab.headers["x-engine"] == "grabcut"


async def test_corrupt_weights_leave_grabcut_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    async with running_app(make_settings(weights_path=bad)) as client:
        ready = (await client.get("/readyz")).json()
    assert ready["default_engine"] == "grabcut"
    assert "failed to load" in ready["modnet_unavailable_reason"]


async def test_require_modnet_keeps_the_service_unready(tmp_path: Path) -> None:
    import asyncio

    import httpx
    from prometheus_client import CollectorRegistry

    from service.app import create_app

    app = create_app(make_settings(require_modnet=True), registry=CollectorRegistry())
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.get("/readyz")
    assert r.status_code == 503
    assert "MODNet required" in r.json()["error"]["message"]
