"""Batching logic against a fake engine: size trigger, time trigger, buckets, cancellation,
admission, failure fan-out, drain (item-by-item retry and stalls: test_batcher_faults.py)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from bench.fake_engine import FakeEngine
from bench.metric_reader import metric_value
from service.batcher import BatcherClosedError, DynamicBatcher, Priority, QueueFullError
from service.contract import EngineError
from service.metrics import Metrics


def img(h: int = 8, w: int = 8, value: int = 0) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def make(engine: FakeEngine, **kw: float) -> tuple[DynamicBatcher, Metrics]:
    metrics = Metrics(CollectorRegistry())
    params = {"max_batch_size": 4, "max_wait_s": 1000.0, "max_queue": 100} | kw
    batcher = DynamicBatcher(
        engine,
        max_batch_size=int(params["max_batch_size"]),
        max_wait_s=params["max_wait_s"],
        max_queue=int(params["max_queue"]),
        metrics=metrics,
    )
    batcher.start()
    return batcher, metrics


async def test_size_triggers_batch_without_waiting_for_timeout() -> None:
    # A huge wait: only reaching max_batch_size can release the batch.
    engine = FakeEngine()
    batcher, metrics = make(engine, max_batch_size=4, max_wait_s=1000.0)
    futures = [batcher.submit(img()) for _ in range(8)]
    results = await asyncio.wait_for(asyncio.gather(*futures), 5)
    assert engine.batches == [4, 4]
    assert all(r.shape == (8, 8) for r in results)
    assert metric_value(metrics.registry, "bgremove_batch_size_count", {"engine": "modnet"}) == 2
    await batcher.stop(1)


async def test_time_triggers_partial_batch() -> None:
    engine = FakeEngine()
    batcher, _ = make(engine, max_batch_size=64, max_wait_s=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(img()) for _ in range(3))), 5)
    assert engine.batches == [3]
    assert len(results) == 3
    assert loop.time() - started >= 0.045  # it waited for the window, then ran what it had
    await batcher.stop(1)


async def test_items_of_different_shapes_never_share_a_batch() -> None:
    engine = FakeEngine()
    batcher, _ = make(engine, max_batch_size=4, max_wait_s=0.05)
    small = [batcher.submit(img(8, 8)) for _ in range(3)]
    large = [batcher.submit(img(16, 8)) for _ in range(2)]
    out_small = await asyncio.wait_for(asyncio.gather(*small), 5)
    out_large = await asyncio.wait_for(asyncio.gather(*large), 5)
    assert sorted(engine.batches) == [2, 3]
    assert {o.shape for o in out_small} == {(8, 8)}
    assert {o.shape for o in out_large} == {(16, 8)}
    await batcher.stop(1)


async def test_cancelled_items_are_dropped_before_inference() -> None:
    engine = FakeEngine()
    batcher, metrics = make(engine, max_batch_size=4, max_wait_s=0.1)
    keep = batcher.submit(img())
    gone = [batcher.submit(img()) for _ in range(2)]
    for f in gone:
        f.cancel()
    await asyncio.wait_for(keep, 5)
    assert engine.batches == [1]
    assert (
        metric_value(
            metrics.registry, "bgremove_dropped_items_total", {"engine": "modnet", "reason": "cancelled"}
        )
        == 2
    )
    await batcher.stop(1)


async def test_future_cancelled_while_batch_runs_does_not_break_the_batch() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher, _ = make(engine, max_batch_size=2, max_wait_s=1000.0)
    a, b = batcher.submit(img()), batcher.submit(img())
    await asyncio.sleep(0.05)  # the batch is now inside the engine
    a.cancel()
    gate.set()
    assert (await asyncio.wait_for(b, 5)).shape == (8, 8)
    assert a.cancelled()
    await batcher.stop(1)


async def test_queue_full_is_refused_at_once() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher, metrics = make(engine, max_batch_size=1, max_wait_s=0.0, max_queue=2)
    first = batcher.submit(img())
    await asyncio.sleep(0.05)  # `first` is running; the next two wait
    waiting = [batcher.submit(img()), batcher.submit(img())]
    assert batcher.depth == 2
    assert metric_value(metrics.registry, "bgremove_queue_depth", {"engine": "modnet"}) == 2
    with pytest.raises(QueueFullError):
        batcher.submit(img())
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), 5)
    assert batcher.depth == 0
    await batcher.stop(1)


@pytest.mark.parametrize("photo_height", [8, 16])  # in the frames' shape bucket, and in another
async def test_a_photo_behind_queued_video_frames_is_in_the_next_batch(photo_height: int) -> None:
    gate = threading.Event()
    seen: list[list[int]] = []  # each batch's items, by pixel value: 255 is the photo, 0 a frame
    engine = FakeEngine(gate=gate, fail=lambda images: seen.append([int(i[0, 0, 0]) for i in images]))
    batcher, _ = make(engine, max_batch_size=4, max_wait_s=0.0)
    first = batcher.submit(img(), Priority.FILL)
    while not engine.batches:  # noqa: ASYNC110  # the first frame is in the engine, held at the gate
        await asyncio.sleep(0.01)
    frames = [batcher.submit(img(), Priority.FILL) for _ in range(8)]
    photo = batcher.submit(img(photo_height, value=255))
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, photo, *frames), 5)
    # In arrival order the photo would wait for two batches of frames; it goes first, and frames
    # of its shape fill the rest of its batch.
    assert seen[1] == ([255, 0, 0, 0] if photo_height == 8 else [255]), seen
    assert sorted(v for batch in seen for v in batch) == [0] * 9 + [255]
    await batcher.stop(1)


async def test_video_frames_neither_take_nor_are_refused_photo_queue_places() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher, _ = make(engine, max_batch_size=1, max_wait_s=0.0, max_queue=2)
    frames = [batcher.submit(img(), Priority.FILL) for _ in range(5)]  # bounded by their clip, not here
    photos = [batcher.submit(img()), batcher.submit(img())]
    assert batcher.depth == 7
    with pytest.raises(QueueFullError):
        batcher.submit(img())
    gate.set()
    await asyncio.wait_for(asyncio.gather(*frames, *photos), 5)
    await batcher.stop(1)


async def test_cancelled_items_free_their_queue_slots() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher, _ = make(engine, max_batch_size=1, max_wait_s=0.0, max_queue=1)
    running = batcher.submit(img())
    await asyncio.sleep(0.05)
    abandoned = batcher.submit(img())
    abandoned.cancel()
    replacement = batcher.submit(img())  # admitted: the cancelled item no longer counts
    gate.set()
    await asyncio.wait_for(asyncio.gather(running, replacement), 5)
    await batcher.stop(1)


async def test_engine_exception_reaches_every_item_that_also_fails_alone() -> None:
    engine = FakeEngine(fail=lambda images: EngineError("boom"))
    batcher, _ = make(engine, max_batch_size=3, max_wait_s=1000.0)
    futures = [batcher.submit(img()) for _ in range(3)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert [type(r) for r in results] == [EngineError] * 3
    assert engine.batches == [3, 1, 1, 1]  # the batch, then each item alone
    # The batcher survives a failed batch.
    engine.fail = None
    ok = [batcher.submit(img()) for _ in range(3)]
    assert len(await asyncio.wait_for(asyncio.gather(*ok), 5)) == 3
    await batcher.stop(1)


async def test_wrong_result_count_fails_the_batch() -> None:
    engine = FakeEngine()
    engine.predict_batch = lambda images: []  # type: ignore[method-assign]
    batcher, _ = make(engine, max_batch_size=2, max_wait_s=1000.0)
    futures = [batcher.submit(img()) for _ in range(2)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, EngineError) for r in results)
    await batcher.stop(1)


async def test_one_batch_at_a_time_on_a_single_worker() -> None:
    engine = FakeEngine(delay_s=0.05)
    active = 0
    peak = 0
    original = engine.predict_batch

    def tracking(images):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            return original(images)
        finally:
            active -= 1

    engine.predict_batch = tracking  # type: ignore[method-assign]
    batcher, _ = make(engine, max_batch_size=2, max_wait_s=0.0)
    await asyncio.wait_for(asyncio.gather(*(batcher.submit(img()) for _ in range(8))), 10)
    assert peak == 1
    # While a batch ran, the next items accumulated and went in together.
    assert max(engine.batches) == 2
    await batcher.stop(1)


async def test_drain_finishes_admitted_work_and_refuses_new() -> None:
    engine = FakeEngine(delay_s=0.02)
    batcher, _ = make(engine, max_batch_size=2, max_wait_s=0.01)
    futures = [batcher.submit(img()) for _ in range(6)]
    await batcher.stop(5)
    assert all(f.done() and not f.cancelled() and f.exception() is None for f in futures)
    with pytest.raises(BatcherClosedError):
        batcher.submit(img())


async def test_drain_timeout_fails_leftovers_instead_of_losing_them() -> None:
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher, _ = make(engine, max_batch_size=1, max_wait_s=0.0)
    futures = [batcher.submit(img()) for _ in range(3)]
    await asyncio.sleep(0.05)
    await batcher.stop(0.1)
    gate.set()
    leftovers = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
    assert len(leftovers) >= 2
    assert all(isinstance(f.exception(), BatcherClosedError) for f in leftovers)
