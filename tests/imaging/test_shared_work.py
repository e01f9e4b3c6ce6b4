"""Tile loops shared with an idle CPU-pool thread: every piece once, never waiting for a busy
helper, errors raised, and the same output bytes as the loop run alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pytest

from service.imaging.foreground import estimate_foreground
from service.imaging.guided_filter import guided_upsample
from service.imaging.shared_work import for_each_shared
from tests.imaging.matting_scenes import portrait


def test_every_piece_runs_exactly_once_across_both_threads() -> None:
    seen: list[int] = []
    threads: set[str] = set()
    lock = threading.Lock()
    started = threading.Barrier(2, timeout=10)

    def work(piece: int) -> None:
        if piece == 0:
            started.wait()  # the first two pieces meet: both threads are provably working
        with lock:
            seen.append(piece)
            threads.add(threading.current_thread().name)

    with ThreadPoolExecutor(1, thread_name_prefix="helper") as pool:
        pieces = [0, 0, *range(1, 200)]
        for_each_shared(pieces, work, pool)
    assert sorted(seen) == sorted(pieces) and len(threads) == 2


def test_a_busy_helper_is_not_waited_for_and_never_runs_a_piece() -> None:
    release = threading.Event()
    seen: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        blocker = pool.submit(release.wait, 10)  # its only thread is busy with another request
        for_each_shared(range(50), lambda _: seen.append(threading.current_thread().name), pool)
        assert not blocker.done() and set(seen) == {threading.current_thread().name}
        release.set()


def test_called_from_inside_the_pool_it_shares_it_does_not_deadlock() -> None:
    with ThreadPoolExecutor(1) as pool:  # the caller holds the pool's only thread
        done = pool.submit(for_each_shared, range(20), lambda _: None, pool)
        assert done.result(timeout=10) is None


def test_an_error_in_a_piece_is_raised_and_stops_the_claiming() -> None:
    claimed: list[int] = []

    def work(piece: int) -> None:
        claimed.append(piece)
        if piece == 3:
            raise ValueError("bad tile")

    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="bad tile"):
        for_each_shared(range(1000), work, pool)
    assert len(claimed) < 1000


def test_shared_tile_loops_give_the_same_bytes_as_one_thread() -> None:
    scene = portrait(720, 1280, 20.0)
    small = np.asarray(cv2.resize(scene.alpha, (320, 180), interpolation=cv2.INTER_AREA), np.float32)
    with ThreadPoolExecutor(1) as pool:
        for _ in range(3):  # thread timing differs from run to run; the bytes must not
            alone = guided_upsample(scene.image, small, 2, 1e-3)
            shared = guided_upsample(scene.image, small, 2, 1e-3, helper=pool)
            assert np.array_equal(alone, shared)
            alpha = np.clip(alone, 0, 1)
            assert np.array_equal(
                estimate_foreground(scene.image, alpha), estimate_foreground(scene.image, alpha, pool)
            )


def test_a_single_piece_is_done_here_without_offering_it_to_the_helper() -> None:
    class NoSubmit(Executor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            raise AssertionError("a single piece was offered to the helper")

    seen: list[int] = []
    for_each_shared([7], seen.append, NoSubmit())
    for_each_shared(range(0), seen.append, NoSubmit())
    assert seen == [7]
