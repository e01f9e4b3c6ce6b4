"""A loop over independent pieces of one request's work (row ranges), shared with an idle thread
of the CPU pool when there is one, never waiting for one that is busy.

At concurrency 1 on a 2-core node the request's CPU step runs on one pool thread while the other
sits idle; the full-resolution passes (guided upsampling, colour decontamination: compiled kernels
that release the GIL, `kernels`) and a big PNG's deflate can run on two cores at once. Under load
every pool thread is busy with other requests and a helper would only queue behind them, so the
caller does not wait for it: it claims pieces one at a time from a shared iterator, and when none
are left it cancels the helper if that has not started (nothing lost, no deadlock even though the
helper is submitted to the very pool the caller runs in) or waits for the piece the helper is
finishing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TypeVar

Piece = TypeVar("Piece")


def for_each_shared(pieces: Sequence[Piece], work: Callable[[Piece], None], helper: Executor | None) -> None:
    """`work(piece)` for every piece, each exactly once, in this thread and (when `helper` is given
    and has a free thread) one more. `work` must only touch what its own piece owns. An exception in
    either thread stops the other from claiming more and is raised here. A single piece (a small
    image) is done here without offering it to the helper: there is nothing to share."""
    if helper is None or len(pieces) <= 1:
        for piece in pieces:
            work(piece)
        return
    source = iter(pieces)
    lock = threading.Lock()
    failed = threading.Event()

    def claim() -> tuple[bool, Piece | None]:
        with lock:
            if failed.is_set():
                return False, None
            for piece in source:
                return True, piece
            return False, None

    def drain() -> None:
        try:
            while True:
                more, piece = claim()
                if not more:
                    return
                work(piece)  # type: ignore[arg-type]  # `more` says a piece was claimed
        except BaseException:
            failed.set()
            raise

    assisting = helper.submit(drain)
    try:
        drain()
    finally:
        # Not started yet: it never will (and never claims anything); started: it is finishing its
        # last claimed piece, or has seen `failed`, and its exception (if any) is raised here.
        if not assisting.cancel():
            assisting.result()
