"""The overload phases of `python -m bench.attack` (127.0.0.1 only, bounded in count and time).

- slow uploads: `count` connections that trickle a body (100 bytes every `drip_every_s`, declaring
  2 MB) while normal clients run: what share of the normal requests still succeed, and how the
  tricklers were answered (429 at once beyond the upload places, 408 beyond the slow-upload places
  or at the upload timeout);
- overload: capacity measured one request at a time, then an open-loop arrival rate of `factor` x
  that capacity for `duration_s`: goodput against capacity, refusal latency p50/p95, and whether any
  admitted request finished past the deadline (or timed out).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from bench.load import LoadPlan, Outcome, require_loopback, run_load, send_one
from bench.server import LOOPBACK


async def trickle(port: int, path: str, drip_every_s: float, stop: asyncio.Event) -> int:
    """One slow upload; returns the status the server answered with (0: none before `stop`)."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nContent-Type: image/jpeg\r\n"
        "Content-Length: 2000000\r\n\r\n"
    )
    writer.write(head.encode())
    answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
    try:
        while not answer.done() and not stop.is_set():
            await asyncio.wait([answer], timeout=drip_every_s)
            if not answer.done():
                writer.write(b"x" * 100)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        if answer.done() and answer.exception() is None:
            return int(answer.result().split(b" ", 2)[1])
        return 0
    except (ConnectionError, asyncio.IncompleteReadError):
        return 0
    finally:
        answer.cancel()
        writer.close()


async def slow_uploads(
    base_url: str, port: int, plan: LoadPlan, bodies: Sequence[bytes], count: int, drip_every_s: float
) -> dict[str, Any]:
    require_loopback(base_url)
    stop = asyncio.Event()
    path = plan.paths[0]
    tricklers = [asyncio.ensure_future(trickle(port, path, drip_every_s, stop)) for _ in range(count)]
    await asyncio.sleep(0.5)  # they are connected and holding what they can
    normal = await run_load(base_url, plan, bodies)
    stop.set()
    statuses = await asyncio.gather(*tricklers, return_exceptions=True)
    tally: dict[str, int] = {}
    for status in statuses:
        key = str(status) if isinstance(status, int) else "error"
        tally[key] = tally.get(key, 0) + 1
    summary = normal.summary()
    summary["ok_pct"] = 100.0 * normal.ok / max(len(normal.outcomes), 1)
    return {"tricklers": count, "trickler_answers": tally, "normal": summary}


ANSWERED = (200, 429, 503)  # served, refused, timed out: anything else is unexplained


async def open_loop(
    base_url: str, path: str, bodies: Sequence[bytes], rate_per_s: float, duration_s: float, cap: int
) -> tuple[list[Outcome], float]:
    """Arrivals at `rate_per_s` for `duration_s` whatever the answers (at most `cap` open at once)."""
    limits = httpx.Limits(max_connections=cap, max_keepalive_connections=cap)
    open_now = asyncio.Semaphore(cap)
    outcomes: list[Outcome] = []

    async def one(client: httpx.AsyncClient, body: bytes) -> None:
        async with open_now:
            outcomes.append(await send_one(client, path, body))

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=120.0, limits=limits) as client:
        tasks = []
        sent = 0
        while (now := time.monotonic() - started) < duration_s:
            due = int(now * rate_per_s) + 1
            while sent < due:
                tasks.append(asyncio.ensure_future(one(client, bodies[sent % len(bodies)])))
                sent += 1
            await asyncio.sleep(min(0.01, 1.0 / rate_per_s))
        await asyncio.gather(*tasks)
    return outcomes, time.monotonic() - started


async def overload(
    base_url: str,
    path: str,
    bodies: Sequence[bytes],
    *,
    factor: float,
    duration_s: float,
    deadline_s: float,
    capacity_requests: int,
) -> dict[str, Any]:
    require_loopback(base_url)
    single = await run_load(base_url, LoadPlan(path, 1, capacity_requests, duration_s), bodies)
    capacity = single.ok / single.duration_s if single.duration_s > 0 else 0.0
    outcomes, took = await open_loop(base_url, path, bodies, factor * capacity, duration_s, cap=512)
    ok = [o.latency_s for o in outcomes if o.status == 200]
    refused = [o.latency_s * 1000 for o in outcomes if o.status in (429, 503) and o.detail != "timeout"]
    goodput = len(ok) / took if took > 0 else 0.0
    pct = lambda values, q: float(np.percentile(values, q)) if values else None  # noqa: E731
    return {
        "capacity_req_per_s": capacity,
        "offered_req_per_s": factor * capacity,
        "sent": len(outcomes),
        "ok": len(ok),
        "refused": len(refused),
        "timed_out": sum(o.detail == "timeout" for o in outcomes),
        "other": sum(o.status not in ANSWERED for o in outcomes),
        # What the others were: status and error code (or the client-side exception), counted.
        "other_kinds": dict(
            Counter(
                f"{o.status} {(o.detail or '')[:80]}" for o in outcomes if o.status not in (200, 429, 503)
            )
        ),
        "goodput_req_per_s": goodput,
        "goodput_pct_of_capacity": 100.0 * goodput / capacity if capacity else 0.0,
        "refusal_p50_ms": pct(refused, 50),
        "refusal_p95_ms": pct(refused, 95),
        "refusal_max_ms": max(refused) if refused else None,
        "admitted_p95_ms": pct([v * 1000 for v in ok], 95),
        "past_deadline": sum(v > deadline_s for v in ok),
    }
