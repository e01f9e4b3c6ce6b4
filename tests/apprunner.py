"""Runs the real app in process (lifespan included) behind an httpx client, with the fake engines
and request bodies the API tests share."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
from PIL import Image
from prometheus_client import CollectorRegistry

from bench.fake_engine import FakeEngine
from bench.metric_reader import metric_value
from service.app import create_app
from service.config import Settings
from service.engines.loader import EngineSet
from tests.locations import REPO


def make_settings(**overrides: Any) -> Settings:
    # Fakes cost nothing, so a measured batch cap would be noise: tests that want it turn it on.
    base: dict[str, Any] = {
        "weights_path": REPO / "does-not-exist.safetensors",
        "cpu_workers": 2,
        "measure_batch_cap": False,
    }
    base.update(overrides)
    return Settings(**base)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings | None = None, engines: EngineSet | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, in process, lifespan included, behind an httpx client."""
    app = create_app(settings or make_settings(), engines=engines, registry=CollectorRegistry())
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.service.ready.wait(), 60)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def jpeg_bytes(w: int = 64, h: int = 48, exif_orientation: int | None = None) -> bytes:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    buf = io.BytesIO()
    if exif_orientation is None:
        image.save(buf, "JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def fakes(**modnet_kw: object) -> EngineSet:
    return EngineSet(grabcut=FakeEngine("grabcut"), modnet=FakeEngine("modnet", **modnet_kw))  # type: ignore[arg-type]


def metric(client: object, name: str, labels: dict[str, str]) -> float:
    registry = client.app.state.service.metrics.registry  # type: ignore[attr-defined]
    return metric_value(registry, name, labels)
