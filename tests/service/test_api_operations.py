"""Operating the real app (in process, lifespan included) with fake engines: batching, overload,
deadlines, fallback, engine choice, readiness, metrics, API keys, CORS."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from prometheus_client import CollectorRegistry

from bench.fake_engine import FakeEngine
from service.app import create_app
from service.contract import EngineError, EngineOutOfMemory
from service.engines.loader import EngineSet
from tests.apprunner import fakes, jpeg_bytes, make_settings, metric, running_app


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
    encode_may_end = threading.Event()

    def blocked_finish(*args: object) -> object:
        encode_may_end.wait(30)  # the encode ends only once the client has its answer
        return real_finish(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_finish", blocked_finish)
    settings = make_settings(request_timeout_s=0.4, max_batch_wait_ms=0)
    async with running_app(settings, fakes()) as client:
        r = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        still_encoding = not encode_may_end.is_set()
        encode_may_end.set()
    assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"
    assert still_encoding  # answered at the deadline, while the encode was still running


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
