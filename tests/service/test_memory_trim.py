"""Idle memory trimming (issue 17): glibc malloc_trim really returns freed heap, and the watcher
trims once the engines are ready and after work, never while a request is in flight."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Callable
from pathlib import Path

import pytest

from service import memory_trim

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_trim_returns_freed_heap_to_the_os() -> None:
    assert memory_trim.AVAILABLE
    # ~200 MiB of small blocks (below glibc's mmap threshold, so they live in the heap), then free all
    # but every 64th: the survivors pin the heap's top, so free() alone cannot shrink it.
    blocks = [bytearray(4096) for _ in range(50_000)]
    for block in blocks:
        block[::512] = b"x" * 8  # touch every page
    keep = blocks[::64]
    del blocks
    before = _rss_mib()
    memory_trim.trim()
    after = _rss_mib()
    assert before - after > 100, (before, after)
    assert len(keep) > 0


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in time")


async def test_watcher_trims_when_ready_and_after_work_once_idle() -> None:
    calls: list[int] = []
    in_flight = [0]
    ready = asyncio.Event()

    def fake_trim() -> bool:
        calls.append(in_flight[0])
        return True

    task = asyncio.create_task(
        memory_trim.trim_when_idle(lambda: in_flight[0], ready, 0.05, trim_fn=fake_trim, poll_s=0.01)
    )
    try:
        await asyncio.sleep(0.05)
        assert calls == []  # nothing before the engines are ready
        ready.set()
        await _until(lambda: len(calls) == 1)  # the load's garbage
        in_flight[0] = 1
        await asyncio.sleep(0.15)  # busy for longer than idle_s: no trim while a request is in flight
        assert calls == [0]
        in_flight[0] = 0
        await _until(lambda: len(calls) == 2)
        await asyncio.sleep(0.15)
        assert calls == [0, 0]  # idle without new work: no more trims
    finally:
        task.cancel()
