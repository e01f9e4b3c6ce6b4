"""The command line for one video: `bgremove clip.mp4 [-o out.webm] [--output mask] [--no-ofd]`.
The WebM streams to disk; the progress bar counts bytes received and names the clip's frame count
(X-Video-Frames)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from bgremove_client.errors import BgRemoveError
from bgremove_client.retry import RetryPolicy
from bgremove_client.sync_client import BgRemoveClient
from bgremove_client.video import VIDEO_SUFFIXES, VideoProgress, VideoResult

EXIT_OK, EXIT_FAILED = 0, 1


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ofd",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="videos: one-frame-delay flicker filter (server default: on)",
    )


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def video_target(source: Path, out: Path | None, output: str) -> Path:
    """Default: <name>.<output>.webm next to the clip; --out: that file, or that folder/<name>.webm."""
    if out is None:
        return source.with_name(f"{source.stem}.{output}.webm")
    return out / f"{source.stem}.webm" if out.is_dir() else out


def run_video(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.output == "zip":
        parser.error("--output zip is for images; a video takes rgba, mask or composite")
    target = video_target(args.input, args.out, args.output)
    if target.exists() and not args.overwrite:
        print(f"bgremove: {target} exists, skipped (--overwrite to redo it)", file=sys.stderr)
        return EXIT_OK
    bar = tqdm(unit="B", unit_scale=True, disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)

    def on_progress(progress: VideoProgress) -> None:
        if progress.frames is not None:
            bar.set_description(f"{args.input.name}: {progress.frames} frames", refresh=False)
        bar.update(progress.bytes_received - bar.n)

    client = BgRemoveClient(
        args.url, api_key=args.api_key, timeout=args.timeout, retry=RetryPolicy(max_retries=args.retries)
    )
    try:
        with client:
            result = client.remove_video(
                args.input,
                target,
                output=args.output,
                bg_color=args.bg_color,
                ofd=args.ofd,
                engine=args.engine,
                on_progress=on_progress,
            )
    except BgRemoveError as exc:
        print(f"bgremove: {args.input}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        bar.close()
    print(summary(result), file=sys.stderr)
    return EXIT_OK


def summary(result: VideoResult) -> str:
    return (
        f"bgremove: {result.path} ({result.frames} frames, {result.width}x{result.height}, "
        f"{result.size_bytes} bytes, engine {result.engine}, audio {result.audio})"
    )
