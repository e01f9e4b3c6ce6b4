"""POST /remove-background/video through the real app (lifespan included) with fake engines, on
real clips encoded in the test: what comes out, what is refused, and how the frames are batched."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import httpx
import numpy as np
import pytest

from service.engines.base import Alpha, RGBImage
from service.engines.loader import EngineSet
from tests.apprunner import make_settings, running_app
from tests.client.live_server import build_app, serve
from tests.fakes import FakeEngine, centre_ellipse
from tests.video.clips import Recipe, decode_clip, encode_clip, moving_crop, undecodable_clip

URL = "/remove-background/video"


def fakes(**modnet_kw: Any) -> EngineSet:
    return EngineSet(grabcut=FakeEngine("grabcut"), modnet=FakeEngine("modnet", **modnet_kw))


def metric(client: Any, name: str, labels: dict[str, str]) -> float:
    return client.app.state.service.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture(scope="module")
def frames() -> list[RGBImage]:
    return moving_crop(frames=12, width=96, height=64)


@pytest.mark.parametrize(
    ("recipe", "audio_header", "audio_out"),
    [
        (Recipe("webm", "libvpx-vp9"), "none", None),
        (Recipe("mp4", "libopenh264", audio="aac"), "dropped (aac cannot be carried by WebM)", None),
        (Recipe("mov", "mpeg4"), "none", None),
        (Recipe("matroska", "mpeg4", audio="libopus"), "copied (opus)", "opus"),
    ],
)
async def test_rgba_keeps_size_frames_and_timestamps_and_carries_alpha(
    frames: list[RGBImage], recipe: Recipe, audio_header: str, audio_out: str | None
) -> None:
    # Irregular timestamps (variable frame rate) must survive too, not just a constant rate.
    pts = [0, 100, 200, 350, 400, 500, 600, 700, 800, 900, 1000, 1100]
    clip = encode_clip(frames, recipe, pts=pts)
    source = decode_clip(clip)
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, files={"video": ("clip", clip, "video/mp4")})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/webm"
    assert r.headers["x-engine"] == "modnet" and r.headers["x-audio"] == audio_header
    out = decode_clip(r.content)
    assert out.format_name == "matroska,webm" and out.codec == "vp9" and out.audio_codec == audio_out
    assert len(out.frames) == len(frames) == int(r.headers["x-video-frames"])
    assert out.frames[0].shape == (64, 96, 4)
    # WebM stores milliseconds: the input's times, to the millisecond.
    np.testing.assert_allclose(out.seconds, source.seconds, atol=0.001)
    expected = centre_ellipse(64, 96) * 255
    for got in out.frames:
        assert np.abs(got[..., 3].astype(float) - expected).mean() < 3  # the fake's matte, as alpha


async def test_mask_and_composite(frames: list[RGBImage]) -> None:
    clip = encode_clip(frames)
    async with running_app(engines=fakes()) as client:
        mask = await client.post(f"{URL}?output=mask", files={"video": ("c.webm", clip)})
        comp = await client.post(
            URL, params={"output": "composite", "bg_color": "#00ff00"}, files={"video": ("c.webm", clip)}
        )
    assert mask.status_code == comp.status_code == 200
    expected = centre_ellipse(64, 96)
    got_mask = decode_clip(mask.content).frames[3]
    assert np.abs(got_mask[..., 0] / 255.0 - expected).mean() < 0.02
    assert (got_mask[..., 3] == 255).all()  # a mask video has no alpha of its own
    np.testing.assert_allclose(got_mask[..., 0], got_mask[..., 1], atol=3)  # grey
    got_comp = decode_clip(comp.content).frames[3]
    corner = got_comp[:4, :4, :3].reshape(-1, 3).mean(axis=0)  # alpha 0 there: pure background
    np.testing.assert_allclose(corner, [0, 255, 0], atol=12)


async def test_raw_video_body_and_form_parameters(frames: list[RGBImage]) -> None:
    clip = encode_clip(frames)
    async with running_app(engines=fakes()) as client:
        raw = await client.post(
            f"{URL}?output=mask&ofd=false", content=clip, headers={"content-type": "video/webm"}
        )
        form = await client.post(URL, data={"output": "mask"}, files={"video": ("c.webm", clip)})
    assert raw.status_code == form.status_code == 200
    assert len(decode_clip(raw.content).frames) == len(decode_clip(form.content).frames) == 12


async def test_frames_are_batched_but_one_clip_never_has_more_than_its_share_queued(
    frames: list[RGBImage],
) -> None:
    clip = encode_clip(frames)
    settings = make_settings(max_batch_wait_ms=50, video_frames_in_flight=4)
    async with running_app(settings, engines=fakes(delay_s=0.02)) as client:
        r = await client.post(URL, files={"video": ("c.webm", clip)})
        batches = client.app.state.service.engines.modnet.batches  # type: ignore[attr-defined]
        assert metric(client, "bgremove_video_frames_total", {"engine": "modnet"}) == 12
        assert (
            metric(
                client,
                "bgremove_video_requests_total",
                {"output": "rgba", "engine": "modnet", "status": "200"},
            )
            == 1
        )
        assert metric(client, "bgremove_video_frame_latency_seconds_count", {"engine": "modnet"}) == 12
    assert r.status_code == 200
    assert sum(batches) == 12
    assert max(batches) > 1, batches  # frames of a clip share engine calls
    assert max(batches) <= 4, batches  # ... but no more than video_frames_in_flight at a time


async def test_a_photo_is_served_while_a_video_runs_through_the_same_batcher(
    frames: list[RGBImage],
) -> None:
    from tests.service.test_api import jpeg_bytes

    clip = encode_clip(frames)
    gate = threading.Event()  # holds the engine until both requests are in
    settings = make_settings(max_batch_wait_ms=20, video_frames_in_flight=4)
    async with running_app(settings, engines=fakes(gate=gate)) as client:
        video = asyncio.ensure_future(client.post(URL, files={"video": ("c.webm", clip)}))
        photo = asyncio.ensure_future(
            client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        )
        state = client.app.state.service  # type: ignore[attr-defined]
        while state.batchers["modnet"].depth < 1 or state.videos_in_flight < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        gate.set()
        r_video, r_photo = await video, await photo
        batches = state.engines.modnet.batches
    assert r_video.status_code == r_photo.status_code == 200
    assert sum(batches) == 12 + 1  # one engine, one batcher: every frame and the photo


class StopAfter:
    """An engine that serves `allowed` frames, then blocks until released: shows the response is
    streaming (bytes arrive while frames are still waiting for the engine)."""

    name = "modnet"
    model_id = "stop-after"

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.served = 0
        self.release = threading.Event()

    def bucket_key(self, image: RGBImage) -> Hashable:
        return 0

    def predict_batch(self, images: Sequence[RGBImage]) -> list[Alpha]:
        if self.served >= self.allowed:
            self.release.wait(30)
        self.served += len(images)
        return [centre_ellipse(*im.shape[:2]) for im in images]

    def warmup(self) -> None: ...

    def close(self) -> None:
        self.release.set()


def test_the_response_streams_and_the_work_stops_when_the_client_leaves() -> None:
    # A real server: the in-process ASGI transport buffers whole responses, so it cannot show
    # streaming or a client that leaves.
    clip = encode_clip(moving_crop(frames=30, width=96, height=64), Recipe(fps=10))
    engine = StopAfter(allowed=20)
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
            assert engine.served <= 20
        # The client has gone. Let the engine go: the clip's frames still queued were withdrawn.
        engine.release.set()
        state = app.state.service
        wait_until(lambda: state.videos_in_flight == 0)
        status = {"output": "rgba", "engine": "modnet", "status": "499"}
        assert state.metrics.registry.get_sample_value("bgremove_video_requests_total", status) == 1
    assert engine.served <= 20 + 2  # at most the frames that were in flight: not the other 8
    assert decode_clip(received + b"").codec == "vp9"  # what came was a valid WebM start


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("settings", "code", "status"),
    [
        ({"video_max_frames": 20}, "video_too_large", 413),
        ({"video_max_duration_s": 2.0}, "video_too_large", 413),
        ({"video_max_pixels": 64 * 47}, "video_too_large", 413),
        ({}, "invalid_video", 400),  # within the limits, it is decoded, and fails to decode
    ],
)
async def test_limits_refuse_before_decoding(settings: dict[str, Any], code: str, status: int) -> None:
    # 30 undecodable frames, 3 s, 64x48: refused as too large (not as undecodable) => the limits
    # were checked without decoding a frame; the engine saw nothing.
    clip = undecodable_clip(30)
    async with running_app(make_settings(**settings), engines=fakes()) as client:
        r = await client.post(URL, files={"video": ("c.webm", clip)})
        assert client.app.state.service.engines.modnet.batches == []  # type: ignore[attr-defined]
        assert client.app.state.service.videos_in_flight == 0  # type: ignore[attr-defined]
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


async def test_upload_size_limit_is_the_video_one(frames: list[RGBImage]) -> None:
    clip = encode_clip(frames)
    big_photo_limit = make_settings(max_upload_bytes=1024, video_max_upload_bytes=1024 * 1024)
    small_video_limit = make_settings(video_max_upload_bytes=1024)
    async with running_app(big_photo_limit, engines=fakes()) as client:
        assert (await client.post(URL, files={"video": ("c.webm", clip)})).status_code == 200
    async with running_app(small_video_limit, engines=fakes()) as client:
        r = await client.post(URL, content=clip + bytes(100_000), headers={"content-type": "video/webm"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_bad_uploads_and_parameters_get_clear_4xx(frames: list[RGBImage]) -> None:
    clip = encode_clip(frames)
    truncated = encode_clip(frames, Recipe("mp4", "mpeg4"))[:2000]  # moov atom at the end: cut off
    async with running_app(engines=fakes()) as client:
        cases = {
            "text": await client.post(URL, files={"video": ("a.mp4", b"not a video at all", "video/mp4")}),
            "jpeg": await client.post(URL, files={"video": ("a.mp4", _jpeg(), "video/mp4")}),
            "truncated": await client.post(URL, files={"video": ("a.mp4", truncated, "video/mp4")}),
            "empty": await client.post(URL, files={"video": ("a.mp4", b"", "video/mp4")}),
            "no field": await client.post(URL, files={"image": ("a.webm", clip)}),
            "image type": await client.post(URL, content=clip, headers={"content-type": "image/png"}),
            "output": await client.post(f"{URL}?output=zip", files={"video": ("a.webm", clip)}),
            "ofd": await client.post(f"{URL}?ofd=maybe", files={"video": ("a.webm", clip)}),
            "bg": await client.post(
                f"{URL}?output=composite&bg_color=red", files={"video": ("a.webm", clip)}
            ),
        }
        assert client.app.state.service.videos_in_flight == 0  # type: ignore[attr-defined]
    codes = {name: (r.status_code, r.json()["error"]["code"]) for name, r in cases.items()}
    assert codes == {
        "text": (400, "invalid_video"),
        "jpeg": (400, "invalid_video"),
        "truncated": (400, "invalid_video"),
        "empty": (400, "invalid_video"),
        "no field": (400, "missing_video"),
        "image type": (415, "unsupported_media_type"),
        "output": (400, "invalid_parameter"),
        "ofd": (400, "invalid_parameter"),
        "bg": (400, "invalid_parameter"),
    }


async def test_engine_choice_and_concurrency_cap(frames: list[RGBImage]) -> None:
    clip = encode_clip(frames)
    async with running_app(engines=EngineSet(grabcut=FakeEngine("grabcut"))) as client:
        grab = await client.post(URL, files={"video": ("c.webm", clip)})
        no_modnet = await client.post(f"{URL}?engine=modnet", files={"video": ("c.webm", clip)})
        client.app.state.service.videos_in_flight = 2  # type: ignore[attr-defined]  # as if two ran
        busy = await client.post(URL, files={"video": ("c.webm", clip)})
        client.app.state.service.videos_in_flight = 0  # type: ignore[attr-defined]
    assert grab.status_code == 200 and grab.headers["x-engine"] == "grabcut"
    assert no_modnet.status_code == 503 and no_modnet.json()["error"]["code"] == "engine_unavailable"
    assert busy.status_code == 429 and "retry-after" in busy.headers


def _jpeg() -> bytes:
    from tests.service.test_api import jpeg_bytes

    return jpeg_bytes()
