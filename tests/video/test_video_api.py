"""POST /remove-background/video through the real app (lifespan included) with fake engines, on
real clips encoded in the test: what comes out and what is refused (batching, fairness to photos
and streaming: test_video_serving.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.fake_engine import FakeEngine, centre_ellipse
from service.contract import RGBImage
from service.engines.loader import EngineSet
from tests.apprunner import fakes, jpeg_bytes, make_settings, running_app
from tests.video.clips import URL, Recipe, decode_clip, encode_clip, undecodable_clip


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
        assert client.app.state.service.video_admission.in_flight == 0  # type: ignore[attr-defined]
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
            "jpeg": await client.post(URL, files={"video": ("a.mp4", jpeg_bytes(), "video/mp4")}),
            "truncated": await client.post(URL, files={"video": ("a.mp4", truncated, "video/mp4")}),
            "empty": await client.post(URL, files={"video": ("a.mp4", b"", "video/mp4")}),
            "no field": await client.post(URL, files={"image": ("a.webm", clip)}),
            "image type": await client.post(URL, content=clip, headers={"content-type": "image/png"}),
            "output": await client.post(f"{URL}?output=zip", files={"video": ("a.webm", clip)}),
            "ofd": await client.post(f"{URL}?ofd=maybe", files={"video": ("a.webm", clip)}),
            "bg": await client.post(
                f"{URL}?output=composite&bg_color=notacolour", files={"video": ("a.webm", clip)}
            ),
        }
        assert client.app.state.service.video_admission.in_flight == 0  # type: ignore[attr-defined]
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
        videos = client.app.state.service.video_admission  # type: ignore[attr-defined]
        with videos.slot(), videos.slot():  # as if two videos ran (video_max_concurrent=2)
            busy = await client.post(URL, files={"video": ("c.webm", clip)})
    assert grab.status_code == 200 and grab.headers["x-engine"] == "grabcut"
    assert no_modnet.status_code == 503 and no_modnet.json()["error"]["code"] == "engine_unavailable"
    assert busy.status_code == 429 and "retry-after" in busy.headers
