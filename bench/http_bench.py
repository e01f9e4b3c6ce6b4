"""End-to-end HTTP benchmark: a real server process on 127.0.0.1, 1080p JPEGs in, for each output
(`mask` PNG, `rgba` PNG, `rgba` WebP) and each concurrency: throughput and p50/p95/p99 latency;
then the same server configuration with `max_batch_size=1` at the highest concurrency, for the
batched/unbatched ratio. Every cell is bounded by a request count and a time limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadPlan, run_load_sync
from bench.metric_reader import metric_value
from bench.server import EngineKind, ServerProcess, ServerSpec, running_server

OUTPUTS: tuple[tuple[str, str], ...] = (("mask", "png"), ("rgba", "png"), ("rgba", "webp"))
RATIO_OUTPUT = ("mask", "png")  # the cheapest encode, so the engine's share of the time is largest


@dataclass(frozen=True)
class HttpBenchPlan:
    engine: EngineKind
    device: str
    concurrencies: Sequence[int]
    requests_per_cell: int
    cell_time_limit_s: float
    max_batch_size: int
    warmup_requests: int = 2
    fake_batch_ms: float = 0.0  # only for engine="fake"
    load_processes: int = 1  # load-generator processes (see bench.load.run_load_sync)
    torch_threads: int | None = None  # the server's intra-op threads (None: torch's default)

    def spec(self, max_batch_size: int) -> ServerSpec:
        top = max(self.concurrencies)
        settings = {
            "device": self.device,
            "max_batch_size": str(max_batch_size),
            # Room for every client: a benchmark measures service time, not refusals.
            "max_queue": str(max(256, 2 * top)),
            # CPU MODNet at concurrency 64 queues for a long time; a timeout would be a refusal too.
            "request_timeout_s": "600",
        }
        env = {"BENCH_FAKE_BATCH_MS": str(self.fake_batch_ms)} if self.engine == "fake" else {}
        if self.torch_threads:
            env.update(OMP_NUM_THREADS=str(self.torch_threads), MKL_NUM_THREADS=str(self.torch_threads))
        return ServerSpec(engine=self.engine, settings=settings, env=env)


def path_for(output: str, fmt: str) -> str:
    return f"/remove-background?output={output}&format={fmt}"


def batch_counters(server: ServerProcess) -> tuple[float, float]:
    """(batches, items) the MODNet/GrabCut batcher ran so far, from the server's own metrics."""
    text = server.metrics_text()
    engine = "grabcut" if server.spec.engine == "grabcut" else "modnet"
    labels = {"engine": engine}
    return (
        metric_value(text, "bgremove_batch_size_count", labels),
        metric_value(text, "bgremove_batch_size_sum", labels),
    )


def run_cell(
    server: ServerProcess, output: str, fmt: str, concurrency: int, plan: HttpBenchPlan, bodies: list[bytes]
) -> dict[str, Any]:
    load = LoadPlan(
        path=path_for(output, fmt),
        concurrency=concurrency,
        requests=plan.requests_per_cell,
        time_limit_s=plan.cell_time_limit_s,
        request_timeout_s=max(120.0, plan.cell_time_limit_s),
    )
    batches_before, items_before = batch_counters(server)
    result = run_load_sync(server.base_url, load, bodies, plan.load_processes)
    batches_after, items_after = batch_counters(server)
    batches = batches_after - batches_before
    summary = result.summary()
    summary.update(
        output=output,
        format=fmt,
        mean_batch_size=(items_after - items_before) / batches if batches else None,
        error_details=sorted({o.detail or "" for o in result.outcomes if o.status != 200}),
    )
    return summary


def warm_up(server: ServerProcess, plan: HttpBenchPlan, bodies: list[bytes]) -> None:
    """First requests pay one-time costs (thread pools, allocator, encoder tables): not measured."""
    if plan.warmup_requests < 1:
        return
    for output, fmt in OUTPUTS:
        load = LoadPlan(path_for(output, fmt), 1, plan.warmup_requests, plan.cell_time_limit_s)
        result = run_load_sync(server.base_url, load, bodies)
        if result.errors:
            raise RuntimeError(f"warm-up {output}/{fmt} failed: {result.summary()['statuses']}")


def measure(
    plan: HttpBenchPlan, bodies: list[bytes], workdir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    top = max(plan.concurrencies)
    cells: list[dict[str, Any]] = []
    with running_server(plan.spec(plan.max_batch_size), workdir) as server:
        log(f"http: server ready on {server.base_url} (engine {plan.engine}, batch {plan.max_batch_size})")
        warm_up(server, plan, bodies)
        for output, fmt in OUTPUTS:
            for concurrency in plan.concurrencies:
                log(f"http: {output}/{fmt} at concurrency {concurrency}")
                cells.append(run_cell(server, output, fmt, concurrency, plan, bodies))
    batched = next(c for c in cells if (c["output"], c["format"]) == RATIO_OUTPUT and c["concurrency"] == top)
    with running_server(plan.spec(1), workdir) as server:
        log(f"http: unbatched server (max_batch_size=1), {RATIO_OUTPUT[0]} at concurrency {top}")
        warm_up(server, plan, bodies)
        unbatched = run_cell(server, *RATIO_OUTPUT, top, plan, bodies)
    ratio = batched["req_per_s"] / unbatched["req_per_s"] if unbatched["req_per_s"] else None
    return {
        "cells": cells,
        "ratio": {
            "output": "/".join(RATIO_OUTPUT),
            "concurrency": top,
            "batched_max_batch_size": plan.max_batch_size,
            "batched_req_per_s": batched["req_per_s"],
            "unbatched_req_per_s": unbatched["req_per_s"],
            "ratio": ratio,
            "unbatched": unbatched,
        },
    }
