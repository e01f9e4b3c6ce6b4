"""The memory-bomb phase of `python -m bench.attack`: images small on the wire whose decoded pixels
and working arrays are huge, each sent alone to an otherwise idle server while its RSS is sampled
every 20 ms. Per bomb: the answer and the peak RSS above the idle RSS before it (issue 15's target:
at most 1.5 GB for one request, never more than the memory budget)."""

from __future__ import annotations

from typing import Any

import httpx

from bench.bombs import zero_png
from bench.server import ServerProcess
from bench.soak import RssSampler

_MIB = 2**20


def memory_bombs() -> list[tuple[str, bytes, str]]:
    """(what, body, output): the two shapes of the issue and the largest cut-out the defaults admit."""
    zeros_40mp = zero_png(6000, 6600, colour_type=0)
    return [
        ("40,000,000 x 1 PNG (39 KB), rgba", zero_png(40_000_000, 1, colour_type=0), "rgba"),
        ("all-zero 40 MP PNG, rgba", zeros_40mp, "rgba"),
        ("all-zero 40 MP PNG, mask", zeros_40mp, "mask"),
        ("all-zero 30 MP PNG, rgba (admitted)", zero_png(6000, 5000, colour_type=0), "rgba"),
    ]


def memory_phase(server: ServerProcess, timeout_s: float) -> list[dict[str, Any]]:
    rows = []
    with httpx.Client(base_url=server.base_url, timeout=timeout_s) as client:
        for what, body, output in memory_bombs():
            idle = server.rss_bytes()
            with RssSampler(server, interval_s=0.02) as sampler:
                r = client.post(f"/remove-background?output={output}", files={"image": ("b.png", body)})
            code = r.json()["error"]["code"] if r.status_code != 200 else "ok"
            peak = max([server.rss_bytes(), *sampler.samples])
            rows.append(
                {
                    "bomb": what,
                    "bytes": len(body),
                    "status": r.status_code,
                    "code": code,
                    "peak_above_idle_mib": (peak - idle) / _MIB,
                }
            )
    return rows
