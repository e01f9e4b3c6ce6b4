"""The CPU pool: decode, shrink, upsampling, colour estimation and encode run here, off the event loop.

Its threads run at a lower scheduling priority (`nice`) than the engine thread. On a CPU node the
model's forward uses every core through its intra-op threads, and a parallel section waits for its
slowest thread: a decode that preempts one of them stalls the whole forward. At a lower priority the
pool fills the gaps instead, and the work stays balanced by itself (an engine starved of decoded
input idles, and the pool gets the cores). Measured on the 2-core EPYC with ONNX Runtime's spinning
off, 1080p masks (`python -m bench.cpu_targets`): throughput at concurrency 8 went from 0.92-1.0x to
1.15x that of concurrency 1, at the same concurrency-1 latency (with spinning inside a forward only,
`model.onnx_runtime`: 1.14x).

At concurrency 1 the other pool thread is idle; it shares the request's full-resolution passes
and big PNG deflates (`service.imaging.shared_work`), and is never waited for when it is busy.

Linux gives each thread its own nice value (setpriority on the thread id); elsewhere the call is
skipped, and so is a failure (a container may forbid it): priority is an optimisation only.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


def _lower_priority(nice: int) -> None:
    """`nice` steps below the process's main thread (capped at Linux's 19): relative, so the gap
    to the engine holds in a process that already runs niced (an absolute 10 in a process at nice
    5 left a gap of 5, and in one at 15 needs a privilege to raise the priority). The main thread's
    value rather than the creating thread's: a pool thread that submits work may be the one that
    starts a new thread, which inherits the niced value."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    base = os.getpriority(os.PRIO_PROCESS, os.getpid())  # on Linux: the main thread's nice
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, base + nice))
    except OSError as exc:  # pragma: no cover - depends on the container's limits
        log.warning("could not lower the CPU pool's priority (nice %d): %s", nice, exc)


def cpu_pool(workers: int, nice: int) -> ThreadPoolExecutor:
    """`workers` threads, each `nice` steps below the process (0: the process's own priority)."""
    return ThreadPoolExecutor(
        workers, thread_name_prefix="cpu", initializer=_lower_priority, initargs=(nice,)
    )
