"""The CPU pool's threads run below the engine's priority (Linux): decode/encode never preempt a forward."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from service.cpu_pool import cpu_pool


def _own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_pool_threads_are_niced_and_the_caller_is_not() -> None:
    before = _own_nice()
    with cpu_pool(2, 7) as pool:
        niced = {pool.submit(_own_nice).result() for _ in range(4)}
    assert niced == {min(19, before + 7)}
    assert _own_nice() == before  # the calling thread (the event loop's) keeps its priority


def test_nice_zero_keeps_the_process_priority() -> None:
    before = _own_nice()
    with cpu_pool(1, 0) as pool:
        assert pool.submit(_own_nice).result() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_a_thread_the_pool_starts_from_its_own_thread_is_niced_once() -> None:
    """A pool thread that submits (the idle-thread sharing does) may start the pool's next thread,
    which inherits its niced value: the next one is still `nice` below the process, not twice."""
    before = _own_nice()
    with cpu_pool(2, 4) as pool:
        inner = pool.submit(lambda: pool.submit(_own_nice).result()).result()
    assert inner == min(19, before + 4)
