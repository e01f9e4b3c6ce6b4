"""The HTTP API through the real app (in process, lifespan included) with fake engines."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client import CollectorRegistry

from bench.fake_engine import FakeEngine, centre_ellipse
from bench.metric_reader import metric_value
from service.app import create_app
from service.contract import EngineError, EngineOutOfMemory
from service.engines.loader import EngineSet
from tests.apprunner import make_settings, running_app


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


CASES = [
    ("rgba", "png", "image/png", "RGBA"),
    ("rgba", "webp", "image/webp", "RGBA"),
    ("mask", "png", "image/png", "L"),
    ("mask", "webp", "image/webp", None),
    ("mask", "jpeg", "image/jpeg", "L"),
    ("composite", "png", "image/png", "RGB"),
    ("composite", "webp", "image/webp", "RGB"),
    ("composite", "jpeg", "image/jpeg", "RGB"),
]


@pytest.mark.parametrize(("output", "fmt", "media_type", "mode"), CASES)
async def test_every_output_and_format(output: str, fmt: str, media_type: str, mode: str | None) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            "/remove-background",
            params={"output": output, "format": fmt},
            files={"image": ("p.jpg", jpeg_bytes(), "image/jpeg")},
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media_type
    assert r.headers["x-engine"] == "modnet"
    assert r.headers["x-model"] == "fake-modnet-1"
    assert float(r.headers["x-processing-time-ms"]) > 0
    result = Image.open(io.BytesIO(r.content))
    assert result.size == (64, 48)
    if mode is not None:
        assert result.mode == mode


async def test_zip_holds_colour_jpeg_and_alpha_png() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post("/remove-background?output=zip", files={"image": ("p.jpg", jpeg_bytes())})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = Image.open(io.BytesIO(archive.read("color.jpg")))
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    assert colour.format == "JPEG" and colour.size == (64, 48)
    assert alpha.mode == "L" and alpha.size == (64, 48)


async def test_mask_values_are_the_engine_alpha() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post("/remove-background?output=mask", files={"image": ("p.jpg", jpeg_bytes())})
    mask = np.asarray(Image.open(io.BytesIO(r.content)), dtype=np.float32) / 255
    assert np.abs(mask - centre_ellipse(48, 64)).max() <= 1 / 255 + 1e-6


async def test_raw_body_and_form_field_parameters() -> None:
    async with running_app(engines=fakes()) as client:
        raw = await client.post(
            "/remove-background?output=mask", content=jpeg_bytes(), headers={"content-type": "image/jpeg"}
        )
        form = await client.post(
            "/remove-background",
            data={"output": "composite", "format": "jpeg", "bg_color": "#00ff00"},
            files={"image": ("p.jpg", jpeg_bytes())},
        )
    assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"
    assert form.status_code == 200 and form.headers["content-type"] == "image/jpeg"


async def test_result_has_the_size_after_exif_orientation() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            "/remove-background?output=mask",
            files={"image": ("p.jpg", jpeg_bytes(64, 48, exif_orientation=6))},
        )
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (48, 64)


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"files": {"image": ("x.jpg", b"not an image", "image/jpeg")}}, 400, "invalid_image"),
        ({"files": {"image": ("x.jpg", b"", "image/jpeg")}}, 400, "invalid_image"),
        (
            {"params": {"output": "banana"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        (
            {"params": {"output": "rgba", "format": "jpeg"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        (
            {"params": {"bg_color": "red!"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        (
            {"params": {"engine": "magic"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        ({"files": {"picture": ("x.jpg", jpeg_bytes())}}, 400, "missing_image"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"files": {"image": ("x.txt", jpeg_bytes(), "text/plain")}}, 415, "unsupported_media_type"),
        ({}, 400, "missing_image"),
    ],
)
async def test_bad_requests_get_json_errors(kwargs: dict[str, object], status: int, code: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post("/remove-background", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"]
        assert metric(client, "bgremove_errors_total", {"code": code}) == 1
        # The server is still fine afterwards.
        ok = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        assert ok.status_code == 200


async def test_unknown_route_and_method_use_the_error_shape() -> None:
    async with running_app(engines=fakes()) as client:
        missing = await client.get("/nope")
        wrong = await client.get("/remove-background")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_body_over_limit_is_413_before_reading_it_all() -> None:
    settings = make_settings(max_upload_bytes=10_000)
    async with running_app(settings, fakes()) as client:
        declared = await client.post(
            "/remove-background", content=b"\xff" * 200_000, headers={"content-type": "image/jpeg"}
        )

        async def chunks():  # no Content-Length: counted as it streams
            for _ in range(100):
                yield b"\xff" * 4096

        streamed = await client.post(
            "/remove-background", content=chunks(), headers={"content-type": "image/jpeg"}
        )
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"


async def test_pixel_count_over_limit_is_413() -> None:
    settings = make_settings(max_pixels=1000)
    async with running_app(settings, fakes()) as client:
        r = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes(64, 48))})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "image_too_large"


async def test_concurrent_requests_are_batched() -> None:
    engines = fakes()
    settings = make_settings(max_batch_size=8, max_batch_wait_ms=300)
    async with running_app(settings, engines) as client:
        responses = await asyncio.gather(
            *(
                client.post("/remove-background?output=mask", files={"image": ("p.jpg", jpeg_bytes())})
                for _ in range(8)
            )
        )
    assert all(r.status_code == 200 for r in responses)
    modnet = engines.modnet
    assert isinstance(modnet, FakeEngine)
    assert sum(modnet.batches) == 8
    assert max(modnet.batches) > 1


async def test_queue_full_gets_429_with_retry_after() -> None:
    gate = threading.Event()
    engines = fakes(gate=gate)
    settings = make_settings(max_batch_size=1, max_batch_wait_ms=0, max_queue=1)
    async with running_app(settings, engines) as client:
        send = lambda: client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})  # noqa: E731
        first = asyncio.ensure_future(send())
        await asyncio.sleep(0.3)  # first is inside the engine
        second = asyncio.ensure_future(send())
        await asyncio.sleep(0.3)  # second waits in the queue
        third = await send()
        gate.set()
        done = await asyncio.gather(first, second)
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "queue_full"
        assert int(third.headers["retry-after"]) >= 1
        assert [r.status_code for r in done] == [200, 200]  # nothing accepted is lost
        assert metric(client, "bgremove_rejected_total", {"reason": "queue_full"}) == 1


async def test_deadline_gives_503_timeout_with_retry_after() -> None:
    settings = make_settings(request_timeout_s=0.3, max_batch_wait_ms=0)
    async with running_app(settings, fakes(delay_s=1.0)) as client:
        r = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "timeout"
    assert "retry-after" in r.headers


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (EngineError("boom"), "engine_error"),
        (EngineOutOfMemory("oom"), "out_of_memory"),
        # Recognised by type, not by name: a framework error named like one is an engine error.
        (type("CudaOutOfMemory", (RuntimeError,), {})("oom"), "engine_error"),
    ],
)
async def test_modnet_failure_falls_back_to_grabcut(error: Exception, reason: str) -> None:
    engines = fakes(fail=lambda images: error)
    async with running_app(engines=engines) as client:
        r = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        assert r.status_code == 200
        assert r.headers["x-engine"] == "grabcut"
        assert r.headers["x-fallback-reason"] == reason
        assert metric(client, "bgremove_fallbacks_total", {"reason": reason}) == 1


async def test_engine_choice() -> None:
    async with running_app(engines=fakes()) as client:
        grab = await client.post(
            "/remove-background?engine=grabcut", files={"image": ("p.jpg", jpeg_bytes())}
        )
    assert grab.headers["x-engine"] == "grabcut"
    no_modnet = EngineSet(grabcut=FakeEngine("grabcut"), modnet_error="no weights")
    async with running_app(engines=no_modnet) as client:
        auto = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        forced = await client.post(
            "/remove-background?engine=modnet", files={"image": ("p.jpg", jpeg_bytes())}
        )
        ready = await client.get("/readyz")
    assert auto.status_code == 200 and auto.headers["x-engine"] == "grabcut"
    assert forced.status_code == 503 and forced.json()["error"]["code"] == "engine_unavailable"
    assert ready.json()["default_engine"] == "grabcut"


async def test_health_ready_and_metrics() -> None:
    engines = fakes()
    async with running_app(engines=engines) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        await client.post("/remove-background?output=mask", files={"image": ("p.jpg", jpeg_bytes())})
        text = (await client.get("/metrics")).text
    assert ready.status_code == 200
    assert ready.json()["engines"] == {"modnet": "fake-modnet-1", "grabcut": "fake-grabcut-1"}
    assert engines.modnet is not None and engines.modnet.warmed  # type: ignore[attr-defined]
    for name in (
        "bgremove_queue_depth",
        "bgremove_queue_wait_seconds",
        "bgremove_batch_size",
        "bgremove_inference_duration_seconds",
        "bgremove_request_duration_seconds",
        "bgremove_in_flight_requests",
        'bgremove_model_ready{engine="modnet"} 1.0',
        'bgremove_requests_total{engine="modnet",output="mask",status="200"} 1.0',
    ):
        assert name in text, name
    assert engines.modnet.closed  # type: ignore[attr-defined]


async def test_not_ready_while_engines_load() -> None:
    gate = threading.Event()

    class SlowWarmup(FakeEngine):
        def warmup(self) -> None:
            gate.wait(10)

    engines = EngineSet(grabcut=FakeEngine("grabcut"), modnet=SlowWarmup("modnet"))
    app = create_app(make_settings(), engines=engines, registry=CollectorRegistry())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        work = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        gate.set()
        await asyncio.wait_for(app.state.service.ready.wait(), 10)
        assert (await client.get("/readyz")).status_code == 200
    assert ready.status_code == 503 and "retry-after" in ready.headers
    assert work.status_code == 503 and work.json()["error"]["code"] == "not_ready"


async def test_api_keys_when_enabled() -> None:
    settings = make_settings(api_keys=["s3cret"])
    async with running_app(settings, fakes()) as client:
        without = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        wrong = await client.post(
            "/remove-background", files={"image": ("p.jpg", jpeg_bytes())}, headers={"x-api-key": "nope"}
        )
        right = await client.post(
            "/remove-background", files={"image": ("p.jpg", jpeg_bytes())}, headers={"x-api-key": "s3cret"}
        )
        health = await client.get("/healthz")
    assert without.status_code == 401 and without.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert health.status_code == 200


async def test_in_flight_limit_refuses_before_reading_the_upload() -> None:
    gate = threading.Event()
    settings = make_settings(max_in_flight=1, max_queue=100)
    async with running_app(settings, fakes(gate=gate)) as client:
        first = asyncio.ensure_future(
            client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        )
        await asyncio.sleep(0.3)  # first holds the only in-flight slot (inside the engine)
        refused = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        gate.set()
        assert (await first).status_code == 200
        assert refused.status_code == 429 and "retry-after" in refused.headers
        assert refused.json()["error"]["code"] == "queue_full"
        assert metric(client, "bgremove_rejected_total", {"reason": "overloaded"}) == 1
        assert metric(client, "bgremove_in_flight_requests", {}) == 0
        again = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        assert again.status_code == 200  # the slot was given back


async def test_deadline_covers_encoding_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.pipeline as pipeline

    real_finish = pipeline._finish

    def slow_finish(*args: object) -> object:
        time.sleep(1.0)
        return real_finish(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_finish", slow_finish)
    settings = make_settings(request_timeout_s=0.4, max_batch_wait_ms=0)
    async with running_app(settings, fakes()) as client:
        started = time.monotonic()
        r = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        elapsed = time.monotonic() - started
    assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"
    assert elapsed < 0.9  # answered at the deadline, not after the slow encode


async def test_cors_is_off_by_default_and_on_when_configured() -> None:
    preflight = {"origin": "https://app.example", "access-control-request-method": "POST"}
    async with running_app(engines=fakes()) as client:
        off = await client.options("/remove-background", headers=preflight)
    async with running_app(make_settings(cors_origins=["https://app.example"]), fakes()) as client:
        on = await client.options("/remove-background", headers=preflight)
        other = await client.options(
            "/remove-background", headers={**preflight, "origin": "https://evil.example"}
        )
    assert "access-control-allow-origin" not in off.headers
    assert on.status_code == 200 and on.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers
