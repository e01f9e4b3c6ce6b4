"""How a clip shares the engine: its frames batch with each other, photos go first, the response
streams, and the work stops when the client leaves (real app, fake engines)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

import httpx

from bench.fake_engine import FakeEngine
from service.contract import EngineName, RGBImage
from service.engines.loader import EngineSet
from tests.apprunner import fakes, jpeg_bytes, make_settings, metric, running_app
from tests.client.live_server import build_app, serve
from tests.video.clips import URL, Recipe, decode_clip, encode_clip, moving_crop


async def test_frames_are_batched_but_one_clip_never_has_more_than_its_share_queued(
    frames: list[RGBImage],
) -> None:
    clip = encode_clip(frames)
    settings = make_settings(max_batch_wait_ms=50, video_frames_in_flight=4)
    async with running_app(settings, engines=fakes(delay_s=0.02)) as client:
        r = await client.post(URL, files={"video": ("c.webm", clip)})
        batches = client.app.state.service.engines.modnet.batches  # type: ignore[attr-defined]
        assert metric(client, "bgremove_video_frames_total", {"engine": "modnet"}) == 12
        done = {"output": "rgba", "engine": "modnet", "status": "200"}
        assert metric(client, "bgremove_video_requests_total", done) == 1
        assert metric(client, "bgremove_video_frame_latency_seconds_count", {"engine": "modnet"}) == 12
        assert metric(client, "bgremove_videos_in_flight", {}) == 0
    assert r.status_code == 200
    assert sum(batches) == 12
    assert max(batches) > 1, batches  # frames of a clip share engine calls
    assert max(batches) <= 4, batches  # ... but no more than video_frames_in_flight at a time


async def test_a_photo_behind_queued_frames_is_in_the_next_batch(frames: list[RGBImage]) -> None:
    clip = encode_clip(frames)  # 96x64 frames; the photo is 64x48
    gate = threading.Event()  # holds the engine's first batch until the photo waits behind the frames
    shapes: list[list[tuple[int, ...]]] = []  # what each batch held, in the order the engine ran them

    def record(images: Sequence[RGBImage]) -> None:
        shapes.append([im.shape[:2] for im in images])

    settings = make_settings(max_batch_size=2, max_batch_wait_ms=20, video_frames_in_flight=4)
    async with running_app(settings, engines=fakes(gate=gate, fail=record)) as client:
        state = client.app.state.service  # type: ignore[attr-defined]
        batcher, engine = state.batchers[EngineName.MODNET], state.engines.modnet
        video = asyncio.ensure_future(client.post(URL, files={"video": ("c.webm", clip)}))
        # The clip's first batch is at the gate and the rest of its 4 frames wait behind it.
        await until(lambda: len(engine.batches) == 1 and batcher.depth + engine.batches[0] == 4)
        frames_waiting = batcher.depth
        photo = asyncio.ensure_future(
            client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes(64, 48))})
        )
        await until(lambda: batcher.depth == frames_waiting + 1)
        gate.set()
        r_video, r_photo = await video, await photo
    assert r_video.status_code == r_photo.status_code == 200
    assert shapes[0] != [(48, 64)] and shapes[1] == [(48, 64)], shapes  # first in line, not fourth
    assert sum(len(batch) for batch in shapes) == 12 + 1  # one engine, one batcher for both


def test_the_response_streams_and_the_work_stops_when_the_client_leaves() -> None:
    # A real server: the in-process ASGI transport buffers whole responses, so it cannot show
    # streaming or a client that leaves.
    clip = encode_clip(moving_crop(frames=30, width=96, height=64), Recipe(fps=10))
    release = threading.Event()
    engine = FakeEngine("modnet", gate=release, gate_after=20)  # 20 frames, then it holds the rest
    settings = make_settings(max_batch_size=1, max_batch_wait_ms=0, video_frames_in_flight=2)
    app = build_app(settings, EngineSet(grabcut=FakeEngine("grabcut"), modnet=engine))
    with serve(app) as url:
        with httpx.stream("POST", url + URL, files={"video": ("c.webm", clip)}, timeout=60) as r:
            assert r.status_code == 200
            received = b""
            for chunk in r.iter_bytes():
                received += chunk
                if len(received) > 1000:
                    break
            # Encoded frames arrived while the engine holds the rest of the clip back.
            assert sum(engine.batches) <= 20 + 1  # the 21st frame is held at the gate
        # The client has gone. Let the engine go: the clip's frames still queued were withdrawn.
        release.set()
        state = app.state.service
        wait_until(lambda: state.video_admission.in_flight == 0)
        status = {"output": "rgba", "engine": "modnet", "status": "499"}
        assert state.metrics.registry.get_sample_value("bgremove_video_requests_total", status) == 1
    assert sum(engine.batches) <= 20 + 2  # at most the frames that were in flight: not the other 8
    assert decode_clip(received + b"").codec == "vp9"  # what came was a valid WebM start


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)
