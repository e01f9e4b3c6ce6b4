"""Admission that matches capacity, in the real app with the fake engine: when the engine has become
slow, a request whose expected wait (recent per-item engine time x items ahead) is longer than its
deadline is refused at once with 429 + Retry-After, while the admitted ones complete; the memory
budget is reserved per request (from the image header) and refuses beyond it."""

from __future__ import annotations

import asyncio
import threading

import httpx

from service.contract import EngineName
from service.service_times import TimedEngine
from tests.apprunner import fakes, jpeg_bytes, make_settings, metric, running_app

PATH = "/remove-background?output=mask"


def post(client: httpx.AsyncClient, body: bytes, path: str = PATH) -> asyncio.Future[httpx.Response]:
    return asyncio.ensure_future(client.post(path, files={"image": ("p.jpg", body, "image/jpeg")}))


def modnet(client: httpx.AsyncClient) -> tuple[TimedEngine, object]:
    batcher = client.app.state.service.batchers[EngineName.MODNET]  # type: ignore[attr-defined]
    assert isinstance(batcher.engine, TimedEngine)
    return batcher.engine, batcher


Answer = asyncio.Future[httpx.Response]


async def wait_ahead(client: httpx.AsyncClient, count: int, answer: Answer | None = None) -> None:
    """Until `count` items are queued or inside the engine (or `answer` is done)."""
    engine, batcher = modnet(client)
    for _ in range(3000):
        ahead = batcher.depth + engine.in_engine  # type: ignore[attr-defined]
        if ahead == count or (answer is not None and answer.done()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} items never were ahead")


async def test_a_slow_engine_makes_admission_refuse_before_the_wait() -> None:
    gate = threading.Event()
    gate.set()
    engines = fakes(delay_s=1.0, gate=gate)
    settings = make_settings(max_batch_size=1, max_batch_wait_ms=0, request_timeout_s=4.0)
    async with running_app(settings, engines) as client:
        body = jpeg_bytes()
        assert (await post(client, body)).status_code == 200  # the engine took 1 s for one item
        engine, _ = modnet(client)
        assert engine.item_s is not None and engine.item_s >= 1.0
        engines.modnet.delay_s = 0.0  # type: ignore[union-attr]
        gate.clear()  # from now on every item waits at the gate: the queue only grows
        held: list[asyncio.Future[httpx.Response]] = []
        refused = None
        for _ in range(10):
            attempt = post(client, body)
            await wait_ahead(client, len(held) + 1, attempt)
            if attempt.done():  # answered while the engine holds everything: refused, no wait
                refused = attempt.result()
                break
            held.append(attempt)
        assert refused is not None, "a queue 10 s long was never refused against a 4 s deadline"
        assert all(not h.done() for h in held)
        gate.set()
        answers = await asyncio.gather(*held)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "queue_full"
    assert "expected wait" in refused.json()["error"]["message"]
    assert 1 <= len(held) <= 4  # 4 s of deadline at >= 1 s per item: at most 4 ahead were admitted
    assert [a.status_code for a in answers] == [200] * len(held)  # everything admitted completes


async def test_the_memory_budget_is_reserved_per_request() -> None:
    gate = threading.Event()
    # A 64x48 cut-out reserves ~16.3 MiB (mostly fixed buffers): two fit in 40 MiB, a third does not.
    settings = make_settings(memory_budget_mb=40, max_batch_size=1, max_batch_wait_ms=0)
    async with running_app(settings, fakes(gate=gate)) as client:
        rgba = "/remove-background?output=rgba"
        held = [post(client, jpeg_bytes(), rgba) for _ in range(2)]
        await wait_ahead(client, 2)
        reserved = metric(client, "bgremove_memory_reserved_bytes", {})
        refused = await post(client, jpeg_bytes(), rgba)
        gate.set()
        answers = await asyncio.gather(*held)
        assert metric(client, "bgremove_memory_reserved_bytes", {}) == 0  # all given back
        assert metric(client, "bgremove_rejected_total", {"reason": "memory"}) == 1
        too_big = await post(client, jpeg_bytes(2000, 1500), rgba)  # ~310 MiB: never fits
    assert 2 * 16 * 2**20 < reserved <= 40 * 2**20
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert refused.json()["error"]["code"] == "queue_full"
    assert [a.status_code for a in answers] == [200, 200]
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "image_too_large"
