"""Folder jobs for the CLI: which files to send, where each result goes, and running them N at a time.

Planning is pure (paths in, jobs out) so resume and naming are testable without a server; running
uses one shared `AsyncBgRemoveClient` and a fixed number of worker tasks, so memory stays flat
however many files the folder holds.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bgremove_client._protocol import Engine, Format, Output, Refine
from bgremove_client.async_client import AsyncBgRemoveClient
from bgremove_client.errors import BgRemoveError, ConnectionFailed

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_FORMAT_SUFFIX = {"png": ".png", "webp": ".webp", "jpeg": ".jpg"}
# Failures that will repeat for every remaining file: stop instead of grinding through the folder.
_ABORT_CODES = frozenset({"connection_error", "unauthorized"})


@dataclass(frozen=True)
class RequestOptions:
    output: Output = "rgba"
    format: Format = "png"
    bg_color: str | None = None
    engine: Engine | None = None
    refine: Refine | None = None
    decontaminate: bool | None = None

    @property
    def suffix(self) -> str:
        return ".zip" if self.output == "zip" else _FORMAT_SUFFIX[self.format]


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    label: str  # the source path relative to the input root, for progress and the summary


@dataclass(frozen=True)
class Outcome:
    job: Job
    error: str | None = None  # None: done
    engine: str = ""
    fallback_reason: str | None = None


@dataclass
class Plan:
    pending: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)  # result already there (resume)


def find_images(root: Path, exclude: Path | None = None) -> Iterator[Path]:
    """Image files under `root`, recursively, sorted, skipping hidden entries and `exclude` (an output
    folder inside the input folder must not be fed back in on the next run)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if exclude is not None and path.is_relative_to(exclude):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def plan_folder(root: Path, out_dir: Path, suffix: str, *, overwrite: bool = False) -> Plan:
    """One job per image, keeping the tree: root/a/b.jpg -> out_dir/a/b<suffix>. Two inputs that would
    share a name (b.jpg and b.png) both keep their own suffix (b.jpg.png, b.png.png) so neither
    overwrites the other and the naming is the same on every run, which resume relies on."""
    sources = list(find_images(root, exclude=out_dir.resolve() if _inside(out_dir, root) else None))
    by_target: dict[Path, list[Path]] = defaultdict(list)
    for src in sources:
        by_target[src.relative_to(root).with_suffix(suffix)].append(src)
    jobs: list[Job] = []
    for rel_target, group in by_target.items():
        for src in group:
            rel = rel_target if len(group) == 1 else src.relative_to(root).with_name(src.name + suffix)
            jobs.append(Job(src, out_dir / rel, src.relative_to(root).as_posix()))
    return _split_existing(sorted(jobs, key=lambda j: j.label), overwrite)


def plan_file(source: Path, target: Path, *, overwrite: bool = False) -> Plan:
    return _split_existing([Job(source, target, source.name)], overwrite)


def _split_existing(jobs: Iterable[Job], overwrite: bool) -> Plan:
    plan = Plan()
    for job in jobs:
        # Results are written atomically (RemovalResult.save), so an existing file is a finished one.
        done = not overwrite and job.target.is_file() and job.target.stat().st_size > 0
        (plan.skipped if done else plan.pending).append(job)
    return plan


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


async def run_jobs(
    jobs: list[Job],
    client: AsyncBgRemoveClient,
    options: RequestOptions,
    *,
    concurrency: int,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Send every job with at most `concurrency` requests in flight; never raises for one file's
    failure. After a failure that every other file would repeat (server unreachable, wrong API key)
    no new job starts; jobs never started are returned as failed with the reason."""
    queue = iter(jobs)  # shared by the workers; safe because they only interleave at awaits
    outcomes: list[Outcome] = []
    abort_reason: list[str] = []

    async def worker() -> None:
        for job in queue:
            if abort_reason:
                outcome = Outcome(job, error=f"not attempted: {abort_reason[0]}")
            else:
                outcome = await _run_one(job, client, options)
                code = outcome.error.split(":", 1)[0] if outcome.error else ""
                if code in _ABORT_CODES and not abort_reason:
                    abort_reason.append(outcome.error or code)
            outcomes.append(outcome)
            on_outcome(outcome)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return outcomes


async def _run_one(job: Job, client: AsyncBgRemoveClient, options: RequestOptions) -> Outcome:
    try:
        result = await client.remove_background(
            job.source,
            output=options.output,
            format=None if options.output == "zip" else options.format,  # a ZIP's parts have fixed types
            bg_color=options.bg_color,
            engine=options.engine,
            refine=options.refine,
            decontaminate=options.decontaminate,
        )
        await asyncio.to_thread(result.save, job.target)
    except ConnectionFailed as exc:
        return Outcome(job, error=f"{exc.code}: {exc.message} (after {exc.attempts} attempts)")
    except BgRemoveError as exc:
        return Outcome(job, error=f"{exc.code}: {exc.message} (HTTP {exc.status})")
    except OSError as exc:  # unreadable input or unwritable output
        return Outcome(job, error=f"io_error: {exc}")
    return Outcome(job, engine=result.engine, fallback_reason=result.fallback_reason)
