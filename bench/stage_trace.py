"""`python -m bench.stage_trace [--requests N] [--size WxH]`: where one request's time goes.

Runs the real app (default settings, shipped weights) under uvicorn on 127.0.0.1 in this process,
with timers around each stage of the request's way (decode, shrink to the network input, the
engine's `predict_batch`, the CPU step after it and its parts: upsampling, colour decontamination,
framing and encoding), and sends
`--requests` mask and then rgba requests at concurrency 1, twice (the first round warms up). Prints
the medians per stage next to the end-to-end time; the rest is HTTP, multipart and queue handoffs.
Bounded: a fixed number of requests, a 60 s timeout each, the server stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn

import model.serving
import service.engine_router
import service.pipeline
from bench.hardware import detect
from bench.images import request_jpegs
from bench.server import free_port, wait_ready
from service.app import create_app
from service.config import Settings

Times = dict[str, list[float]]


def _timed(owner: Any, name: str, stage: str, times: Times) -> None:
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            times[stage].append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def _timed_async(owner: Any, name: str, stage: str, times: Times) -> None:
    inner: Callable[..., Awaitable[Any]] = getattr(owner, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await inner(*args, **kwargs)
        finally:
            times[stage].append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def instrument(times: Times) -> None:
    """Timers on the functions the pipeline calls by module attribute (this process only)."""
    _timed(service.pipeline, "decode_image", "decode", times)
    _timed(service.engine_router, "shrink", "shrink", times)
    _timed(model.serving.ModnetEngine, "predict_batch", "engine", times)
    _timed(service.pipeline, "_finish", "cpu step", times)
    # The CPU step's parts: they should add up to it (a gap is time lost between them).
    _timed(service.pipeline, "upsample", "upsample", times)
    _timed(service.pipeline, "estimate_foreground", "colour", times)
    _timed(service.pipeline, "finish", "encode", times)
    _timed_async(service.pipeline.RemovalPipeline, "run", "pipeline", times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=12, help="requests per output and round")
    parser.add_argument("--size", default="1920x1080", help="photo size, WxH")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    times: Times = defaultdict(list)
    instrument(times)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    bodies = request_jpegs(4, width, height)
    rows = []
    try:
        with httpx.Client(timeout=60.0) as client:
            wait_ready(url, thread.is_alive, 120.0)
            for round_ in range(2):
                for output in ("mask", "rgba"):
                    times.clear()
                    total = []
                    for index in range(args.requests):
                        started = time.perf_counter()
                        body = bodies[index % len(bodies)]
                        response = client.post(
                            f"{url}/remove-background?output={output}",
                            files={"image": ("photo.jpg", body, "image/jpeg")},
                        )
                        total.append(time.perf_counter() - started)
                        if response.status_code != 200:
                            raise SystemExit(f"{response.status_code}: {response.text[:200]}")
                    if round_ == 1:
                        stages = {k: statistics.median(v) * 1000 for k, v in times.items()}
                        rows.append((output, statistics.median(total) * 1000, stages))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    names = ["decode", "shrink", "engine", "cpu step", "upsample", "colour", "encode", "pipeline"]
    print(
        f"# Stage trace — {detect().label()}; {width}x{height}, "
        f"{args.requests} requests per output, medians (ms)"
    )
    print("| output | end to end | " + " | ".join(names) + " | HTTP and queue |")
    print("|---" * (len(names) + 3) + "|")
    for output, total_ms, stages in rows:
        cells = " | ".join(f"{stages.get(name, float('nan')):.1f}" for name in names)
        print(f"| {output} | {total_ms:.1f} | {cells} | {total_ms - stages.get('pipeline', 0.0):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
