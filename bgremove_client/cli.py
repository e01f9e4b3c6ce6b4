"""`bgremove` / `python -m bgremove_client`: one image, a folder tree into an output folder, or one
video (.mp4 .m4v .mov .webm .mkv) into a WebM.

Exit status: 0 all done or skipped, 1 some files failed, 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO, get_args

from tqdm import tqdm

from bgremove_client._protocol import DEFAULT_URL, Engine, Format, Output, Refine
from bgremove_client.async_client import AsyncBgRemoveClient
from bgremove_client.batch import Outcome, Plan, RequestOptions, plan_file, plan_folder, run_jobs
from bgremove_client.retry import RetryPolicy
from bgremove_client.video_cli import add_video_arguments, is_video, run_video

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bgremove",
        description="Remove the background of one image, or of every image under a folder (the tree is "
        "kept). Results that already exist are skipped, so an interrupted run can simply be repeated.",
    )
    p.add_argument("input", type=Path, help="an image file, or a folder searched recursively")
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        help="output folder (required for a folder input); for a file: the result path or a folder. "
        "Default for a file: <name>.<output>.<ext> next to it",
    )
    p.add_argument("--output", choices=get_args(Output), default="rgba", help="default: rgba")
    p.add_argument("--format", choices=get_args(Format), default="png", help="default: png")
    p.add_argument("--bg-color", help="hex colour for --output composite (server default #ffffff)")
    p.add_argument("--engine", choices=get_args(Engine), help="server default: auto")
    p.add_argument("--refine", choices=get_args(Refine), help="server default: none")
    p.add_argument(
        "--decontaminate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="foreground colour estimation (server default: on)",
    )
    add_video_arguments(p)
    p.add_argument("-j", "--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--url", default=os.environ.get("BGREMOVE_URL", DEFAULT_URL), help="env BGREMOVE_URL")
    p.add_argument(
        "--api-key", default=os.environ.get("BGREMOVE_API_KEY"), help="X-API-Key; env BGREMOVE_API_KEY"
    )
    p.add_argument("--retries", type=int, default=4, help="retries per file on 429/503/network errors")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request attempt")
    p.add_argument("--overwrite", action="store_true", help="redo results that already exist")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def make_plan(args: argparse.Namespace, suffix: str, parser: argparse.ArgumentParser) -> Plan:
    source: Path = args.input
    if source.is_dir():
        if args.out is None:
            parser.error("a folder input needs --out FOLDER")
        if args.out.exists() and not args.out.is_dir():
            parser.error(f"--out {args.out} exists and is not a folder")
        return plan_folder(source, args.out, suffix, overwrite=args.overwrite)
    if not source.is_file():
        parser.error(f"{source} is neither a file nor a folder")
    if args.out is None:
        target = source.with_name(f"{source.stem}.{args.output}{suffix}")
    elif args.out.is_dir():
        target = args.out / f"{source.stem}{suffix}"
    else:
        target = args.out
    return plan_file(source, target, overwrite=args.overwrite)


def print_summary(plan: Plan, outcomes: Sequence[Outcome], seconds: float, stream: TextIO) -> None:
    done = [o for o in outcomes if o.error is None]
    failed = [o for o in outcomes if o.error is not None]
    total = len(plan.pending) + len(plan.skipped)
    print(
        f"bgremove: {len(done)} done, {len(plan.skipped)} skipped, {len(failed)} failed "
        f"(of {total}) in {seconds:.1f} s",
        file=stream,
    )
    engines = Counter(o.engine or "?" for o in done)
    if engines:
        print("  engines: " + ", ".join(f"{k} {v}" for k, v in sorted(engines.items())), file=stream)
    fallbacks = Counter(o.fallback_reason for o in done if o.fallback_reason)
    if fallbacks:
        print("  fallbacks: " + ", ".join(f"{k} {v}" for k, v in sorted(fallbacks.items())), file=stream)
    if failed:
        print("failed:", file=stream)
        for o in sorted(failed, key=lambda o: o.job.label):
            print(f"  {o.job.label}: {o.error}", file=stream)


async def _run(plan: Plan, args: argparse.Namespace, options: RequestOptions) -> list[Outcome]:
    bar = tqdm(
        total=len(plan.pending) + len(plan.skipped),
        initial=len(plan.skipped),
        unit="img",
        disable=args.no_progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    failures = 0

    def on_outcome(outcome: Outcome) -> None:
        nonlocal failures
        if outcome.error is not None:
            failures += 1
            bar.set_postfix(failed=failures, refresh=False)
        bar.update(1)

    client = AsyncBgRemoveClient(
        args.url,
        api_key=args.api_key,
        timeout=args.timeout,
        retry=RetryPolicy(max_retries=args.retries),
        max_connections=args.concurrency,
    )
    try:
        async with client:
            return await run_jobs(
                plan.pending, client, options, concurrency=args.concurrency, on_outcome=on_outcome
            )
    finally:
        bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if is_video(args.input):
        return run_video(args, parser)
    if args.output == "rgba" and args.format == "jpeg":
        parser.error("--format jpeg has no alpha channel: use png/webp, or --output composite")
    options = RequestOptions(
        output=args.output,
        format=args.format,
        bg_color=args.bg_color,
        engine=args.engine,
        refine=args.refine,
        decontaminate=args.decontaminate,
    )
    plan = make_plan(args, options.suffix, parser)
    started = time.perf_counter()
    try:
        outcomes = asyncio.run(_run(plan, args, options)) if plan.pending else []
    except KeyboardInterrupt:
        # Finished results are already on disk (written atomically); a rerun resumes from there.
        print("bgremove: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print_summary(plan, outcomes, time.perf_counter() - started, sys.stderr)
    return EXIT_FAILED if any(o.error is not None for o in outcomes) else EXIT_OK
