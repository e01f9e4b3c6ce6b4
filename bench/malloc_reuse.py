"""`python -m bench.malloc_reuse [--requests N] [--rounds R]`: the service with and without
`malloc_reuse` (service/malloc_reuse.py), and with each of its two halves alone, side by side.

Four real servers (shipped weights, default settings but for `BGREMOVE_MALLOC_REUSE` and glibc's
environment) run at once and take turns: each round sends `--requests` 1080p mask, 1080p rgba and (a
third as many) 12 MP rgba requests at concurrency 1 to one, then the next. Prints p50s with their
ratio to glibc's defaults, then each server's idle RSS after the run and its trim, headed by the
hardware. Bounded: fixed request counts, 127.0.0.1 only, every server stopped at the end.
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

# name -> (BGREMOVE_MALLOC_REUSE, glibc's own environment variables): the two halves of the
# setting on their own as well, through glibc's tunables.
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "default glibc": ("false", {}),
    "malloc_reuse": ("true", {}),
    "thresholds only": (
        "false",
        {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20)},
    ),
    "one arena only": ("false", {"MALLOC_ARENA_MAX": "1"}),
}


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
                running_server(ServerSpec("modnet", settings={"malloc_reuse": value}, env=env), Path(tmp))
            )
            for name, (value, env) in VARIANTS.items()
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
    base = next(iter(VARIANTS))
    hardware = detect().label()
    print(f"# malloc_reuse — {hardware}; shipped weights, concurrency 1, medians of {args.rounds} rounds")
    print("p50 ms, and in brackets the ratio to glibc's defaults (below 1 is faster)")
    print("| request | " + " | ".join(VARIANTS) + " |")
    print("|---" * (len(VARIANTS) + 1) + "|")
    for cell in cells:
        medians = {name: statistics.median(p50s[(name, cell)]) for name in VARIANTS}
        row = " | ".join(f"{ms:.0f} ({ms / medians[base]:.2f}x)" for ms in medians.values())
        print(f"| {cell} | {row} |")
    rss_row = " | ".join(f"{mib:.0f} ({mib / rss[base]:.2f}x)" for mib in rss.values())
    print(f"| idle RSS after the run and trim, MiB | {rss_row} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
