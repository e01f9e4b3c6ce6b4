"""The client against the real app (fake engines): every output kind, sync over TCP and async in
process, the server's error codes surfacing as exceptions, and a real 503 + Retry-After retried."""

from __future__ import annotations

import asyncio
import io
import threading
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bench.fake_engine import FakeEngine
from bgremove_client import (
    AsyncBgRemoveClient,
    BgRemoveClient,
    NonRetryableError,
    RemovalResult,
    RetryPolicy,
)
from service.engines.loader import EngineSet
from tests.apprunner import fakes, make_settings, running_app
from tests.client.live_server import build_app, serve

# (output, format) -> (media type, PIL mode of the decoded result)
CASES: dict[tuple[str, str | None], tuple[str, str]] = {
    ("rgba", "png"): ("image/png", "RGBA"),
    ("rgba", "webp"): ("image/webp", "RGBA"),
    ("mask", "png"): ("image/png", "L"),
    ("mask", "jpeg"): ("image/jpeg", "L"),
    ("composite", "jpeg"): ("image/jpeg", "RGB"),
    ("composite", "png"): ("image/png", "RGB"),
    ("zip", None): ("application/zip", ""),
}
SIZE = (80, 48)  # the jpeg_bytes fixture's width x height


def check_result(result: RemovalResult, output: str, fmt: str | None) -> None:
    media_type, mode = CASES[(output, fmt)]
    assert result.media_type == media_type
    assert (result.engine, result.model) == ("modnet", "fake-modnet-1")
    assert result.processing_ms is not None and result.processing_ms >= 0
    assert result.fallback_reason is None and result.attempts == 1
    assert (result.width, result.height) == SIZE
    if output == "zip":
        with zipfile.ZipFile(io.BytesIO(result.content)) as archive:
            assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
            alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
            assert alpha.mode == "L" and alpha.size == SIZE
        return
    image = Image.open(io.BytesIO(result.content))
    image.load()
    assert image.mode == mode and image.size == SIZE


@pytest.mark.parametrize(("output", "fmt"), list(CASES))
async def test_async_client_every_output(jpeg_bytes: bytes, output: str, fmt: str | None) -> None:
    async with running_app(engines=fakes()) as http:
        client = AsyncBgRemoveClient(http_client=http)
        result = await client.remove_background(jpeg_bytes, output=output, format=fmt)  # type: ignore[arg-type]
    check_result(result, output, fmt)


@pytest.mark.parametrize(("output", "fmt"), list(CASES))
def test_sync_client_every_output(live_url: str, jpeg_path: Path, output: str, fmt: str | None) -> None:
    with BgRemoveClient(live_url) as client:
        result = client.remove_background(jpeg_path, output=output, format=fmt)  # type: ignore[arg-type]
    check_result(result, output, fmt)


def test_per_output_helpers_and_save(live_url: str, jpeg_path: Path, tmp_path: Path) -> None:
    with BgRemoveClient(live_url) as client:
        assert client.ready()
        cut = client.cutout(jpeg_path, format="webp")
        assert client.mask(jpeg_path).media_type == "image/png"
        green = client.composite(jpeg_path, bg_color="#00ff00", engine="grabcut")
        assert client.zip_bundle(jpeg_path).media_type == "application/zip"
    assert green.engine == "grabcut" and green.media_type == "image/jpeg"
    # The fake matte is 0 in the corners, so a composite corner shows the background colour.
    red, grn, blue = Image.open(io.BytesIO(green.content)).convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    assert grn > 200 and red < 60 and blue < 60
    saved = cut.save(tmp_path / "deep" / "out" / f"cut{cut.extension}")
    assert saved.name == "cut.webp" and saved.read_bytes() == cut.content
    assert [p.name for p in saved.parent.iterdir()] == ["cut.webp"]  # no temp file left behind


async def test_async_helpers(jpeg_bytes: bytes) -> None:
    async with running_app(engines=fakes()) as http:
        client = AsyncBgRemoveClient(http_client=http)
        assert await client.ready()
        results = await asyncio.gather(
            client.cutout(jpeg_bytes),
            client.mask(jpeg_bytes, format="webp"),
            client.composite(jpeg_bytes, bg_color="#123456"),
            client.zip_bundle(jpeg_bytes),
        )
    assert [r.media_type for r in results] == ["image/png", "image/webp", "image/jpeg", "application/zip"]


def test_server_errors_surface_with_their_codes(live_url: str, jpeg_bytes: bytes) -> None:
    with BgRemoveClient(live_url) as client:
        with pytest.raises(NonRetryableError) as bad_param:
            client.remove_background(jpeg_bytes, output="poster")  # type: ignore[arg-type]
        with pytest.raises(NonRetryableError) as no_alpha:
            client.remove_background(jpeg_bytes, output="rgba", format="jpeg")
        with pytest.raises(NonRetryableError) as garbage:
            client.remove_background(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    assert (bad_param.value.status, bad_param.value.code) == (400, "invalid_parameter")
    assert "output" in bad_param.value.message
    assert (no_alpha.value.status, no_alpha.value.code) == (400, "invalid_parameter")
    assert garbage.value.status == 400 and garbage.value.code == "invalid_image"
    assert all(e.value.attempts == 1 for e in (bad_param, no_alpha, garbage))


def test_api_key_is_sent(jpeg_bytes: bytes) -> None:
    app = build_app(make_settings(api_keys=["s3cret"]))
    with serve(app) as url:
        with BgRemoveClient(url) as anonymous, pytest.raises(NonRetryableError) as info:
            anonymous.remove_background(jpeg_bytes)
        with BgRemoveClient(url, api_key="s3cret") as client:
            assert client.remove_background(jpeg_bytes).engine == "modnet"
    assert (info.value.status, info.value.code) == (401, "unauthorized")


class GatedWarmup(FakeEngine):
    """Stays 'warming up' (so the app answers 503 not_ready) until the gate opens."""

    def __init__(self, name: str, gate: threading.Event) -> None:
        super().__init__(name)
        self.warm_gate = gate

    def warmup(self) -> None:
        assert self.warm_gate.wait(30), "test never opened the warm-up gate"
        super().warmup()


async def test_real_app_503_with_retry_after_is_retried(jpeg_bytes: bytes) -> None:
    gate = threading.Event()
    app = build_app(make_settings(retry_after_s=2), EngineSet(grabcut=GatedWarmup("grabcut", gate)))
    delays: list[float] = []
    async with app.router.lifespan_context(app):

        async def sleep(seconds: float) -> None:
            # Instead of sleeping: let the engine finish warming up, then retry once ready.
            delays.append(seconds)
            gate.set()
            await asyncio.wait_for(app.state.service.ready.wait(), 30)

        transport = httpx.ASGITransport(app=app)
        policy = RetryPolicy(max_retries=2)
        async with AsyncBgRemoveClient("http://app", transport=transport, retry=policy, sleep=sleep) as c:
            result = await c.remove_background(jpeg_bytes, output="mask")
    assert result.attempts == 2 and result.engine == "grabcut"
    assert len(delays) == 1 and 2.0 <= delays[0] <= 2.5  # waited the server's Retry-After (+ jitter)
