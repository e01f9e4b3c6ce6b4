"""Markdown tables for the benchmark results (printed, and pasted as-is into docs/benchmarks.md)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])


def model_table(cells: Sequence[dict[str, Any]]) -> str:
    rows = [
        [
            c["mode"],
            c["device"],
            c["batch_size"],
            c["iterations"],
            c["ms_per_batch"],
            c["img_per_s"],
            (c["skipped"] or "")[:60],
        ]
        for c in cells
    ]
    return table(["mode", "device", "batch", "iters", "ms/batch", "img/s", "skipped"], rows)


def http_table(cells: Sequence[dict[str, Any]]) -> str:
    rows = [
        [
            f"{c['output']} {c['format']}",
            c["concurrency"],
            c["requests"],
            c["errors"],
            c["req_per_s"],
            c["p50_ms"],
            c["p95_ms"],
            c["p99_ms"],
            c["mean_batch_size"],
        ]
        for c in cells
    ]
    headers = ["output", "conc", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean batch"]
    return table(headers, rows)


def ratio_line(ratio: dict[str, Any]) -> str:
    return (
        f"batched (max_batch_size={ratio['batched_max_batch_size']}) vs max_batch_size=1, "
        f"{ratio['output']} at concurrency {ratio['concurrency']}: "
        f"{_fmt(ratio['batched_req_per_s'])} vs {_fmt(ratio['unbatched_req_per_s'])} req/s "
        f"= {_fmt(ratio['ratio'], 2)}x"
    )


def log(message: str) -> None:
    """Progress lines go to stderr, time-stamped, so stdout carries only the results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def render(results: dict[str, Any]) -> str:
    parts = [f"Hardware: {results['hardware_label']}", f"Load average at start: {results['load_average']}"]
    if results.get("model"):
        parts += [
            "",
            "Model throughput (MODNet topology, random weights, 512x512):",
            "",
            model_table(results["model"]),
        ]
    http = results.get("http")
    if http:
        config = results["config"]
        parts += [
            "",
            f"End-to-end HTTP ({config['engine']} engine"
            + (f", {config['weights']}" if config.get("weights") else "")
            + f", {config['image_size']} JPEGs, "
            f"{results['images']}):",
            "",
            http_table(http["cells"]),
            "",
            ratio_line(http["ratio"]),
        ]
    return "\n".join(parts)
