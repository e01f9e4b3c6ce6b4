"""`python -m bench.run [--quick] [--device cpu|cuda] [--out results.json]`

One run measures and prints: MODNet model throughput per batch size and mode; end-to-end HTTP
throughput and p50/p95/p99 latency against a real server on 127.0.0.1 for mask PNG, rgba PNG and
rgba WebP at several concurrencies; and the batched vs max_batch_size=1 ratio at the highest
concurrency. Every figure is labelled with the hardware it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench import hardware, http_bench, report
from bench.images import request_jpegs, source_of_images
from bench.server import modnet_weights_label


def _ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,8,32, got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[1])
    p.add_argument(
        "--quick", action="store_true", help="few batch sizes, concurrencies 1 and 8, few requests"
    )
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when torch sees one, else cpu")
    p.add_argument("--out", type=Path, help="also write every figure as JSON here")
    p.add_argument("--engine", choices=["modnet", "fake", "grabcut"], default="modnet", help="server engine")
    p.add_argument("--concurrency", type=_ints, help="HTTP concurrencies (quick: 1,8; full: 1,8,32,64)")
    p.add_argument("--requests", type=int, help="requests per HTTP cell (quick: 16; full: 256)")
    p.add_argument("--cell-time-limit", type=float, help="seconds per HTTP cell (quick: 60; full: 120)")
    p.add_argument("--max-batch-size", type=int, help="server max_batch_size (cpu: 16, cuda: 32)")
    p.add_argument("--batch-sizes", type=_ints, help="model batch sizes (cpu quick: 1,4; cuda full: 1..64)")
    p.add_argument("--model-iterations", type=int, help="timed forward passes per model cell")
    p.add_argument("--model-time-budget", type=float, default=30.0, help="seconds per model cell")
    p.add_argument("--size", default="1920x1080", help="request image size WxH")
    p.add_argument("--images", type=int, default=8, help="distinct request images")
    p.add_argument("--warmup-requests", type=int, default=2, help="untimed requests per output")
    p.add_argument(
        "--load-processes", type=int, help="load-generator processes (cpu: 1; cuda: cores/4, <= 4)"
    )
    p.add_argument(
        "--torch-threads", type=int, help="intra-op threads for the model and the server (default: torch's)"
    )
    p.add_argument("--fake-batch-ms", type=float, default=0.0, help="per-batch latency of --engine fake")
    p.add_argument("--skip-model", action="store_true")
    p.add_argument("--skip-http", action="store_true")
    return p.parse_args(argv)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the defaults that depend on --quick and --device."""
    device = args.device or default_device()
    quick = args.quick
    if device == "cpu":
        batch_sizes = [1, 4] if quick else [1, 2, 4, 8]
    else:
        batch_sizes = [1, 16] if quick else [1, 8, 16, 32, 64]
    width, height = (int(v) for v in args.size.lower().split("x"))
    cores = hardware.usable_cores()
    return {
        "quick": quick,
        "device": device,
        "engine": args.engine,
        "weights": modnet_weights_label() if args.engine == "modnet" else None,
        "image_size": f"{width}x{height}",
        "width": width,
        "height": height,
        "concurrencies": args.concurrency or ([1, 8] if quick else [1, 8, 32, 64]),
        "requests_per_cell": args.requests or (16 if quick else 256),
        "cell_time_limit_s": args.cell_time_limit or (60.0 if quick else 120.0),
        "max_batch_size": args.max_batch_size or (16 if device == "cpu" else 32),
        "batch_sizes": args.batch_sizes or batch_sizes,
        "model_iterations": args.model_iterations or (3 if quick else 20),
        "model_time_budget_s": args.model_time_budget,
        # On the 2-core box a second client process would only steal the server's CPU.
        "torch_threads": args.torch_threads,
        "load_processes": args.load_processes or (1 if device == "cpu" else max(1, min(4, cores // 4))),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    config = resolve(args)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    hw = hardware.detect()
    results: dict[str, Any] = {
        "hardware": hw.as_dict(),
        "hardware_label": hw.label(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "config": config,
        "images": source_of_images(),
    }
    if not args.skip_model:
        from bench import model_throughput  # torch + model: only when measuring the model

        cells = model_throughput.measure(
            config["device"],
            config["batch_sizes"],
            quick=config["quick"],
            iterations=config["model_iterations"],
            time_budget_s=config["model_time_budget_s"],
            log=report.log,
        )
        results["model"] = [c.as_dict() for c in cells]
    if not args.skip_http:
        bodies = request_jpegs(args.images, config["width"], config["height"])
        plan = http_bench.HttpBenchPlan(
            engine=config["engine"],
            device=config["device"],
            concurrencies=config["concurrencies"],
            requests_per_cell=config["requests_per_cell"],
            cell_time_limit_s=config["cell_time_limit_s"],
            max_batch_size=config["max_batch_size"],
            warmup_requests=args.warmup_requests,
            fake_batch_ms=args.fake_batch_ms,
            load_processes=config["load_processes"],
            torch_threads=args.torch_threads,
        )
        with tempfile.TemporaryDirectory(prefix="bgremove-bench-") as workdir:
            results["http"] = http_bench.measure(plan, bodies, Path(workdir), log=report.log)
    print(report.render(results), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
        report.log(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
