"""Runs the real app in process (lifespan included) behind an httpx client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from service.app import create_app
from service.config import Settings
from service.engines.loader import EngineSet
from tests.locations import REPO


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"weights_path": REPO / "does-not-exist.safetensors", "cpu_workers": 2}
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
