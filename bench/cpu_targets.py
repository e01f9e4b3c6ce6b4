"""`python -m bench.cpu_targets [--requests N] [--rss-requests N]`: the CPU targets in one run.

Ratios first (each taken within one of several interleaved rounds, their median reported), then
absolute figures (medians), all headed by the hardware:

1. model forward at the serving shape (a 1080p photo's network input): torch eager fp32 vs the
   adopted runtime (`cpu_runtime=auto`), with the largest |alpha difference| between them;
2. against a real server with default settings (shipped weights): 1080p mask and rgba p50 at
   concurrency 1 vs the forward alone; rgba p50 vs mask p50; 12 MP rgba p50 vs 1080p mask p50; mask throughput
   at concurrency 8 vs 1;
3. the server's idle RSS before and after `--rss-requests` requests (after malloc_trim's idle wait).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from bench.hardware import detect
from bench.images import request_jpegs
from bench.load import LoadPlan, LoadResult, run_load_sync
from bench.server import ServerSpec, running_server
from model.serving import ModnetEngine, create_engine
from service.config import DEFAULT_WEIGHTS
from service.imaging.matte_scale import shrink

MASK, RGBA = "/remove-background?output=mask", "/remove-background?output=rgba"
WARM_FORWARDS = 8
ROUNDS = 5
SETTLE_S = 0.5  # between forward blocks of different runtimes (see ForwardBench.block)
TRIM_WAIT_S = 7.0  # the server trims after 5 s idle (BGREMOVE_MEMORY_TRIM_IDLE_S)


class ForwardBench:
    """The model forward at the 1080p serving shape, torch eager fp32 vs the adopted runtime
    (`cpu_runtime=auto`), timed in blocks that `rounds` interleaves with the server's cells."""

    def __init__(self) -> None:
        eager = create_engine(weights_path=DEFAULT_WEIGHTS, device="cpu", cpu_runtime="torch")
        adopted = create_engine(weights_path=DEFAULT_WEIGHTS, device="cpu")
        assert eager is not None and adopted is not None, f"no weights at {DEFAULT_WEIGHTS}"
        photo = np.asarray(Image.open(io.BytesIO(request_jpegs(1, 1920, 1080)[0])).convert("RGB"))
        self.small = shrink(photo, adopted.input_size(1080, 1920))
        self.engines: dict[str, ModnetEngine] = {"eager": eager, "adopted": adopted}
        self.runtime = adopted.runtime
        for engine in self.engines.values():
            # ONNX Runtime needs several calls to settle (its arena grows): one warm-up call left
            # it at ~185 ms where it then ran at ~147 ms.
            for _ in range(WARM_FORWARDS):
                engine.predict_batch([self.small])
        alphas = [engine.predict_batch([self.small])[0] for engine in self.engines.values()]
        self.max_delta = float(np.abs(alphas[0] - alphas[1]).max())

    def block(self, count: int) -> dict[str, float]:
        """Median ms per forward of `count` forwards per runtime, one runtime after the other.
        Blocks rather than call-by-call alternation: each runtime has its own thread pool, and
        threads still spinning after one runtime's forward (torch's OpenMP pool spins for a while
        after a parallel region) took the cores from the other's next forward, which measured ONNX
        Runtime at 195 ms where it runs at ~140 on its own. A pause lets them go to sleep."""
        medians = {}
        for name, engine in self.engines.items():
            time.sleep(SETTLE_S)
            times = []
            for _ in range(count):
                started = time.perf_counter()
                engine.predict_batch([self.small])
                times.append(time.perf_counter() - started)
            medians[name] = statistics.median(times) * 1000
        return medians


def p50(result: LoadResult) -> float:
    return float(statistics.median(result.latencies())) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=12, help="requests per latency cell")
    parser.add_argument("--big-requests", type=int, default=4, help="12 MP rgba requests")
    parser.add_argument("--rss-requests", type=int, default=200, help="requests between the two idle RSS")
    parser.add_argument("--repeat", type=int, default=20, help="forward passes per runtime")
    args = parser.parse_args(argv)
    hardware = detect().label()
    forward = ForwardBench()
    hd, big = request_jpegs(4, 1920, 1080), request_jpegs(2, 4000, 3000)
    n = args.requests
    big_per_round = max(1, -(-args.big_requests // ROUNDS))
    forwards_per_round = max(1, -(-args.repeat // ROUNDS))

    def load(
        server_url: str, path: str | tuple[str, ...], bodies: list[bytes], concurrency: int, count: int
    ) -> LoadResult:
        result = run_load_sync(server_url, LoadPlan(path, concurrency, count, 600.0), bodies)
        if result.errors:
            raise SystemExit(f"{result.errors} errors on {path}: {result.summary()['statuses']}")
        return result

    with tempfile.TemporaryDirectory() as tmp, running_server(ServerSpec("modnet"), Path(tmp)) as server:
        url = server.base_url
        caps = httpx.get(f"{url}/readyz").json().get("batch_caps")
        time.sleep(TRIM_WAIT_S)
        rss_before = server.rss_bytes() / 2**20
        for path in (MASK, RGBA):
            load(url, path, hd, 1, 2)  # untimed warm-up
        # Interleaved rounds: the forward alone, then each server cell, every round; the ratios are
        # taken within a round and their median reported. On this 2-core box the speed drifts by
        # 10-30 % from one minute to the next: a forward timed minutes before the server's cells
        # moved mask / forward between 1.2x and 1.6x from run to run.
        rounds: list[dict[str, float]] = []
        for _ in range(ROUNDS):
            cells = forward.block(forwards_per_round)
            mask1, rgba1 = load(url, MASK, hd, 1, n), load(url, RGBA, hd, 1, n)
            mask8 = load(url, MASK, hd, 8, max(2 * n, 16))
            big1 = load(url, RGBA, big, 1, big_per_round)
            cells.update(mask=p50(mask1), rgba=p50(rgba1), big=p50(big1))
            cells.update(rps1=mask1.summary()["req_per_s"], rps8=mask8.summary()["req_per_s"])
            rounds.append(cells)
        done = 4 + ROUNDS * (2 * n + max(2 * n, 16) + big_per_round)
        if args.rss_requests > done:
            load(url, (MASK, RGBA), hd, 4, args.rss_requests - done)
        time.sleep(TRIM_WAIT_S)
        rss_after = server.rss_bytes() / 2**20
        served = max(args.rss_requests, done)

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(r[top] / r[bottom] for r in rounds)

    def median(name: str) -> float:
        return statistics.median(r[name] for r in rounds)

    runtime = "ONNX Runtime" if forward.runtime == "onnx" else "torch"
    print(f"# CPU targets — {hardware}; shipped weights, default settings (batch caps {caps})")
    print("| measurement | ratio (median of the rounds' ratios) | absolute (medians) |")
    print("|---|---|---|")
    rows = [
        (
            f"model forward at 320x544: torch eager fp32 / {runtime}",
            ratio("eager", "adopted"),
            f"{median('eager'):.0f} / {median('adopted'):.0f} ms, max abs Δalpha {forward.max_delta:.1e}",
        ),
        (
            "1080p mask p50 (concurrency 1) / forward alone",
            ratio("mask", "adopted"),
            f"{median('mask'):.0f} ms",
        ),
        (
            "1080p rgba p50 (concurrency 1) / forward alone",
            ratio("rgba", "adopted"),
            f"{median('rgba'):.0f} ms",
        ),
        ("1080p rgba p50 / mask p50", ratio("rgba", "mask"), f"{median('rgba'):.0f} ms"),
        ("12 MP rgba p50 / 1080p mask p50", ratio("big", "mask"), f"{median('big'):.0f} ms"),
        (
            "mask throughput, concurrency 8 / 1",
            ratio("rps8", "rps1"),
            f"{median('rps8'):.2f} / {median('rps1'):.2f} req/s",
        ),
        (
            f"idle RSS after / before {served} requests",
            rss_after / rss_before,
            f"{rss_before:.0f} → {rss_after:.0f} MiB",
        ),
    ]
    for name, value, absolute in rows:
        print(f"| {name} | {value:.2f}x | {absolute} |")
    print(
        f"\n{ROUNDS} rounds, each: the forward alone ({forwards_per_round} per runtime), "
        f"{n} requests per 1080p cell, {big_per_round} at 12 MP (4000x3000)."
    )
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
