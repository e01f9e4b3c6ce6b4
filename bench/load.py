"""A bounded closed-loop HTTP load generator for the removal endpoint.

`concurrency` clients each send one request, wait for its answer, and send the next, until the
plan's request count is reached or its time limit has passed, whichever comes first; requests
already sent when the time runs out are awaited (each has its own timeout). Only loopback URLs are
accepted: these tools must never load anything but the local machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
REFUSED = frozenset({429, 503})


@dataclass(frozen=True)
class LoadPlan:
    path: str | tuple[str, ...]  # e.g. "/remove-background?output=mask"; a tuple is cycled through
    concurrency: int
    requests: int  # most requests sent in all
    time_limit_s: float  # no new request after this
    request_timeout_s: float = 120.0
    # Overload runs: a refused client waits this long before its next request, so refusals do not
    # turn into a busy loop that starves the server of CPU (None: no pause).
    pause_after_refusal_s: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.requests < 1 or self.time_limit_s <= 0:
            raise ValueError("concurrency, requests and time_limit_s must be positive")
        if not self.paths:
            raise ValueError("need at least one path")

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,) if isinstance(self.path, str) else self.path


@dataclass(frozen=True)
class Outcome:
    status: int  # 0: no HTTP answer (connection error, client timeout)
    latency_s: float
    retry_after: str | None = None
    detail: str | None = None  # error code or exception, for the report


@dataclass
class LoadResult:
    plan: LoadPlan
    outcomes: list[Outcome] = field(default_factory=list)
    duration_s: float = 0.0

    def latencies(self, statuses: frozenset[int] = frozenset({200})) -> list[float]:
        return [o.latency_s for o in self.outcomes if o.status in statuses]

    @property
    def ok(self) -> int:
        return sum(o.status == 200 for o in self.outcomes)

    @property
    def errors(self) -> int:
        return len(self.outcomes) - self.ok

    def summary(self) -> dict[str, Any]:
        ok = np.asarray(self.latencies(), dtype=np.float64) * 1000.0
        pct = {f"p{q}_ms": float(np.percentile(ok, q)) if ok.size else None for q in (50, 95, 99)}
        statuses: dict[str, int] = {}
        for outcome in self.outcomes:
            statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
        return {
            "concurrency": self.plan.concurrency,
            "requests": len(self.outcomes),
            "ok": self.ok,
            "errors": self.errors,
            "statuses": statuses,
            "duration_s": self.duration_s,
            "req_per_s": self.ok / self.duration_s if self.duration_s > 0 else 0.0,
            **pct,
            "max_ms": float(ok.max()) if ok.size else None,
        }


def require_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"load tools only target the local machine, not {host!r}")


async def run_load(base_url: str, plan: LoadPlan, bodies: Sequence[bytes]) -> LoadResult:
    require_loopback(base_url)
    if not bodies:
        raise ValueError("need at least one request body")
    result = LoadResult(plan)
    issued = 0
    started = time.monotonic()
    deadline = started + plan.time_limit_s
    paths = plan.paths
    limits = httpx.Limits(max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < plan.requests and time.monotonic() < deadline:
            body, path = bodies[issued % len(bodies)], paths[issued % len(paths)]
            issued += 1
            outcome = await send_one(client, path, body)
            result.outcomes.append(outcome)
            if outcome.status in REFUSED and plan.pause_after_refusal_s:
                await asyncio.sleep(plan.pause_after_refusal_s)

    async with httpx.AsyncClient(base_url=base_url, timeout=plan.request_timeout_s, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(plan.concurrency)))
    result.duration_s = time.monotonic() - started
    return result


async def send_one(client: httpx.AsyncClient, path: str, body: bytes) -> Outcome:
    started = time.perf_counter()
    try:
        response = await client.post(path, files={"image": ("photo.jpg", body, "image/jpeg")})
        await response.aread()
    except httpx.HTTPError as exc:
        return Outcome(0, time.perf_counter() - started, detail=repr(exc))
    latency = time.perf_counter() - started
    detail = None
    if response.status_code != 200:
        try:
            detail = str(response.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
    return Outcome(response.status_code, latency, response.headers.get("retry-after"), detail)


def run_load_sync(base_url: str, plan: LoadPlan, bodies: Sequence[bytes], processes: int = 1) -> LoadResult:
    """`processes` > 1 spreads the clients over that many load-generator processes: one Python
    process tops out at a few hundred requests/s of 1080p uploads, below what a GPU server serves."""
    processes = min(processes, plan.concurrency, plan.requests)
    if processes <= 1:
        return asyncio.run(run_load(base_url, plan, bodies))
    shares = [
        replace(
            plan,
            concurrency=_share(plan.concurrency, processes, i),
            requests=_share(plan.requests, processes, i),
        )
        for i in range(processes)
    ]
    start_at = time.time() + 2.0  # all start together, once spawned (spawn: the parent may hold CUDA)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_run_part, [base_url] * processes, shares, [list(bodies)] * processes,
                              [start_at] * processes))  # fmt: skip
    result = LoadResult(plan, [o for outcomes, _, _ in parts for o in outcomes])
    result.duration_s = max(end for _, _, end in parts) - min(start for _, start, _ in parts)
    return result


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _run_part(
    base_url: str, plan: LoadPlan, bodies: list[bytes], start_at: float
) -> tuple[list[Outcome], float, float]:
    time.sleep(max(0.0, start_at - time.time()))
    started = time.time()
    result = asyncio.run(run_load(base_url, plan, bodies))
    return result.outcomes, started, time.time()
