"""Video throughput: frames per second for one clip (default: 10 s of 720p at 25 fps, a pan over a
people photo), batched vs frame-at-a-time (max_batch_size=1), and photo-request p50 latency while a
video runs vs on an idle server.

    python -m bench.video_bench [--seconds 10] [--height 720] [--fps 25] [--photos 8] [--weights PATH]

The app runs in process behind httpx's ASGI transport (no network at all), with the shipped MODNet
weights by default. Bounded: one clip per mode, `--photos` photo requests per latency row.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import httpx
import numpy as np
from PIL import Image
from prometheus_client import CollectorRegistry

from bench.images import cover_resize, jpeg_bytes, photo_paths
from bench.report import log, table
from service.app import create_app
from service.config import DEFAULT_WEIGHTS, Settings

URL = "/remove-background/video"


def pan_clip(seconds: float, height: int, fps: int) -> bytes:
    """A camera pan across a people photo, VP9 in WebM (what a browser records)."""
    width = round(height * 16 / 9 / 2) * 2
    photo = Image.open(photo_paths(1)[0]).convert("RGB")
    canvas = np.asarray(cover_resize(photo, round(width * 1.3), height))
    frames = round(seconds * fps)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm") as out:
        stream = cast(av.VideoStream, out.add_stream("libvpx-vp9", rate=fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.options = {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"}
        span = canvas.shape[1] - width
        for i in range(frames):
            x = round(span * i / max(frames - 1, 1))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas[:, x : x + width]), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, registry=CollectorRegistry())
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.service.ready.wait(), 300)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=3600) as client:
            yield client


async def video_fps(client: httpx.AsyncClient, clip: bytes, frames: int) -> float:
    started = time.perf_counter()
    r = await client.post(f"{URL}?output=mask", files={"video": ("clip.webm", clip, "video/webm")})
    elapsed = time.perf_counter() - started
    r.raise_for_status()
    return frames / elapsed


async def photo_p50(client: httpx.AsyncClient, photo: bytes, count: int) -> float:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        r = await client.post("/remove-background?output=mask", files={"image": ("p.jpg", photo)})
        r.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)


async def measure(args: argparse.Namespace) -> list[list[Any]]:
    clip = pan_clip(args.seconds, args.height, args.fps)
    frames = round(args.seconds * args.fps)
    photo = jpeg_bytes(cover_resize(Image.open(photo_paths(2)[1]).convert("RGB"), 1920, 1080))
    base: dict[str, Any] = {
        "weights_path": args.weights,
        "device": "cpu",
        "video_max_frames": max(frames, 1800),
        "video_max_duration_s": max(args.seconds + 1, 60),
        "request_timeout_s": 600,
    }
    rows: list[list[Any]] = []
    for label, batch in (("batched (max_batch_size=16)", 16), ("frame at a time (max_batch_size=1)", 1)):
        async with app_client(Settings(**base, max_batch_size=batch)) as client:
            log(f"video: {label}")
            fps = await video_fps(client, clip, frames)
            rows.append([f"video fps, {label}", f"{fps:.2f}"])
    async with app_client(Settings(**base)) as client:
        log("photo p50, idle then during a video")
        idle = await photo_p50(client, photo, args.photos)
        video = asyncio.ensure_future(video_fps(client, clip, frames))
        await asyncio.sleep(1.0)  # let the clip's frames reach the batcher
        busy = await photo_p50(client, photo, args.photos)
        await video
    rows.append(["1080p photo → mask, p50, idle server", f"{idle:.0f} ms"])
    rows.append(["1080p photo → mask, p50, while a video runs", f"{busy:.0f} ms"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--photos", type=int, default=8, help="photo requests per latency row")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    title = f"{args.seconds:g} s of {args.height}p at {args.fps} fps, output=mask, shipped MODNet on CPU"
    print(f"\n{title}\n\n" + table(["measurement", "result"], rows))


if __name__ == "__main__":
    main()
