"""`python -m bench.soak`: a long bounded run against a real uvicorn process on 127.0.0.1, checking
that nothing fails and the server's memory does not grow.

Default: 1,000 warm-up requests, then 10,000 measured requests at concurrency 64 (each phase also
stops at its time limit), small real-photo JPEGs cycling through every output (mask PNG, rgba PNG,
rgba WebP, composite JPEG, ZIP) so every encoder is exercised, against the fake engine (fast, so the
service's own code, not the model, is what runs 10,000 times). `--engine modnet` (random weights)
or `--engine grabcut` soak a real engine instead.

Pass: zero errors (any non-200 or transport failure) and the server's RSS at the end within
`--max-growth` (5 %) of its RSS after warm-up. Exit status 0 on pass, 1 on fail.

`--defaults` runs the server with its default settings instead (admission included, so a 429 is a
refusal, not an error; a refused client waits 0.1 s) and also compares the *idle* RSS (after the
server's idle malloc_trim) before and after the run: pass needs it within `--max-idle-growth` (20 %).
Issue 15's run: `--engine modnet --defaults --warmup 500 --requests 2500 --concurrency 32 --size 640x480`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import hardware, report
from bench.images import request_jpegs, source_of_images
from bench.load import LoadPlan, LoadResult, run_load_sync
from bench.server import ServerProcess, ServerSpec, running_server

PATHS = (
    "/remove-background?output=mask&format=png",
    "/remove-background?output=rgba&format=png",
    "/remove-background?output=rgba&format=webp",
    "/remove-background?output=composite&format=jpeg&bg_color=%2300ff00",
    "/remove-background?output=zip",
)


class RssSampler:
    """Samples the server's resident set size in a thread while the load runs."""

    def __init__(self, server: ServerProcess, interval_s: float = 0.5) -> None:
        self.server = server
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.server.rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[1])
    p.add_argument("--requests", type=int, default=10_000, help="measured requests (after warm-up)")
    p.add_argument("--warmup", type=int, default=1_000, help="warm-up requests before the RSS baseline")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--time-limit", type=float, default=1200.0, help="seconds per phase, at most")
    p.add_argument("--engine", choices=["fake", "modnet", "grabcut"], default="fake")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="for --engine modnet")
    p.add_argument("--fake-batch-ms", type=float, default=2.0, help="per-batch latency of the fake")
    p.add_argument("--size", default="320x240", help="request image size WxH")
    p.add_argument("--images", type=int, default=16, help="distinct request images")
    p.add_argument("--load-processes", type=int, default=1, help="load-generator processes")
    p.add_argument("--max-growth", type=float, default=5.0, help="allowed RSS growth after warm-up, %%")
    p.add_argument("--defaults", action="store_true", help="default server settings; 429s are refusals")
    p.add_argument(
        "--max-idle-growth", type=float, default=20.0, help="allowed idle RSS growth, %% (--defaults)"
    )
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    return p.parse_args(argv)


TRIM_WAIT_S = 7.0  # the server trims its heap after 5 s idle (BGREMOVE_MEMORY_TRIM_IDLE_S)


def server_spec(args: argparse.Namespace) -> ServerSpec:
    settings = {"device": args.device}
    if not args.defaults:
        settings["max_queue"] = str(max(256, 2 * args.concurrency))  # every client fits: refusals are errors
        settings["request_timeout_s"] = "600"
    env = {"BENCH_FAKE_BATCH_MS": str(args.fake_batch_ms)} if args.engine == "fake" else {}
    return ServerSpec(engine=args.engine, settings=settings, env=env)


def soak(args: argparse.Namespace, workdir: Path, log: Any = print) -> dict[str, Any]:
    width, height = (int(v) for v in args.size.lower().split("x"))
    bodies = request_jpegs(args.images, width, height)
    with running_server(server_spec(args), workdir) as server:

        def load(requests: int) -> LoadResult:
            pause = 0.1 if args.defaults else None
            plan = LoadPlan(
                PATHS, args.concurrency, requests, args.time_limit, request_timeout_s=120.0,
                pause_after_refusal_s=pause,
            )  # fmt: skip
            return run_load_sync(server.base_url, plan, bodies, args.load_processes)

        time.sleep(TRIM_WAIT_S)
        rss_start = server.rss_bytes()
        log(f"soak: server {server.base_url} ready, RSS {rss_start / 2**20:.1f} MiB; warm-up {args.warmup}")
        warm = load(args.warmup) if args.warmup else None
        rss_warm = server.rss_bytes()
        log(f"soak: warm RSS {rss_warm / 2**20:.1f} MiB; {args.requests} requests at {args.concurrency}")
        with RssSampler(server) as sampler:
            main = load(args.requests)
        rss_end = server.rss_bytes()
        time.sleep(TRIM_WAIT_S)
        rss_idle_end = server.rss_bytes()
        alive = server.alive()
    summary = main.summary()
    growth = (rss_end - rss_warm) / rss_warm * 100.0
    idle_growth = (rss_idle_end - rss_start) / rss_start * 100.0
    complete = summary["requests"] == args.requests
    allowed = {200, 429} if args.defaults else {200}
    errors = sum(o.status not in allowed for r in (main, warm) if r for o in r.outcomes)
    idle_ok = idle_growth < args.max_idle_growth if args.defaults else True
    return {
        "hardware": hardware.detect(with_torch=args.engine == "modnet").label(),
        "engine": args.engine,
        "images": f"{args.images} x {args.size}, {source_of_images()}",
        "outputs": list(PATHS),
        "concurrency": args.concurrency,
        "warmup_requests": len(warm.outcomes) if warm else 0,
        "requests": summary["requests"],
        "duration_s": summary["duration_s"],
        "req_per_s": summary["req_per_s"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "errors": errors,
        "statuses": summary["statuses"],
        "error_details": sorted({o.detail or "" for o in main.outcomes if o.status not in allowed})[:10],
        "rss_start_mib": rss_start / 2**20,
        "rss_warm_mib": rss_warm / 2**20,
        "rss_end_mib": rss_end / 2**20,
        "rss_max_mib": max([rss_end, *sampler.samples]) / 2**20,
        "rss_growth_pct": growth,
        "refused_429": summary["statuses"].get("429", 0),
        "rss_idle_end_mib": rss_idle_end / 2**20,
        "idle_rss_growth_pct": idle_growth,
        "server_alive_at_end": alive,
        "complete": complete,
        "passed": errors == 0 and growth < args.max_growth and idle_ok and alive and complete,
    }


def render(result: dict[str, Any]) -> str:
    keys = ["hardware", "engine", "images", "concurrency", "warmup_requests", "requests", "duration_s",
            "req_per_s", "p50_ms", "p99_ms", "errors", "refused_429", "rss_start_mib", "rss_warm_mib",
            "rss_end_mib", "rss_max_mib", "rss_growth_pct", "rss_idle_end_mib", "idle_rss_growth_pct",
            "passed"]  # fmt: skip
    width = max(map(len, keys))
    lines = []
    for key in keys:
        value = result[key]
        lines.append(
            f"{key.ljust(width)}  {value:,.2f}"
            if isinstance(value, float)
            else f"{key.ljust(width)}  {value}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bgremove-soak-") as workdir:
        result = soak(args, Path(workdir), report.log)
    print(render(result), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
