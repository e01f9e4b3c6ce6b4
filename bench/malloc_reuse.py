"""`python -m bench.malloc_reuse [--requests N] [--rounds R]`: the service with and without
`malloc_reuse` (service/malloc_reuse.py), side by side.

Two real servers (shipped weights, default settings but for `BGREMOVE_MALLOC_REUSE`) run at once and
take turns: each round sends `--requests` 1080p mask, 1080p rgba and (a third as many) 12 MP rgba
requests at concurrency 1 to one, then the other. Prints the ratio of p50s (reuse / default; below 1
is faster) and the absolute medians, then each server's idle RSS after the run and its trim, headed
by the hardware. Bounded: fixed request counts, 127.0.0.1 only, both servers stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.cpu_targets import MASK, RGBA, TRIM_WAIT_S, p50
from bench.hardware import detect
from bench.images import request_jpegs
from bench.load import LoadPlan, run_load_sync
from bench.server import ServerSpec, running_server

VARIANTS = {"default glibc": "false", "malloc_reuse": "true"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=9, help="1080p requests per cell and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    hd, big = request_jpegs(4, 1920, 1080), request_jpegs(2, 4000, 3000)
    cells = {"1080p mask": (MASK, hd, args.requests), "1080p rgba": (RGBA, hd, args.requests)}
    cells["12 MP rgba"] = (RGBA, big, max(1, args.requests // 3))
    p50s: dict[tuple[str, str], list[float]] = {}
    rss: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                running_server(ServerSpec("modnet", settings={"malloc_reuse": value}), Path(tmp))
            )
            for name, value in VARIANTS.items()
        }
        for server in servers.values():  # untimed warm-up
            for path, bodies, _ in cells.values():
                run_load_sync(server.base_url, LoadPlan(path, 1, 2, 300.0), bodies)
        for _ in range(args.rounds):
            for name, server in servers.items():
                for cell, (path, bodies, count) in cells.items():
                    result = run_load_sync(server.base_url, LoadPlan(path, 1, count, 600.0), bodies)
                    if result.errors:
                        raise SystemExit(f"{name} {cell}: {result.summary()['statuses']}")
                    p50s.setdefault((name, cell), []).append(p50(result))
        time.sleep(TRIM_WAIT_S)
        rss = {name: server.rss_bytes() / 2**20 for name, server in servers.items()}
    base, new = VARIANTS
    hardware = detect().label()
    print(f"# malloc_reuse — {hardware}; shipped weights, concurrency 1, medians of {args.rounds} rounds")
    print(f"| request | {new} / {base} | {base} p50 ms | {new} p50 ms |")
    print("|---|---|---|---|")
    for cell in cells:
        old_ms, new_ms = (statistics.median(p50s[(name, cell)]) for name in (base, new))
        print(f"| {cell} | {new_ms / old_ms:.2f}x | {old_ms:.0f} | {new_ms:.0f} |")
    rss_ratio = rss[new] / rss[base]
    print(f"| idle RSS after the run and trim, MiB | {rss_ratio:.2f}x | {rss[base]:.0f} | {rss[new]:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
