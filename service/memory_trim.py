"""Give freed heap memory back to the OS when the service goes idle (glibc `malloc_trim(0)`).

Why: loading MODNet (weights read, ONNX export, warm-up) and each burst of requests (decoded images,
mattes, PNG buffers: many MB each, freed in worker threads) leave glibc's per-thread arenas full of
free pages that it keeps, so idle RSS stays near its peak (657 -> 1,642 MiB was reported after
load). `malloc_trim(0)` returns the free pages of every arena; `python -m bench.memory_trim`
measured it against MALLOC_ARENA_MAX (docs/benchmarks.md). It costs a few ms and runs in a worker
thread, only when no request is in flight: once when the engines are ready, then whenever the
service has been idle for `memory_trim_idle_s` after some work.

Not glibc (musl, macOS): `trim()` is a no-op returning False.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often the idle watcher looks at the in-flight count


def glibc_function(name: str, argtypes: list[Any], restype: Any) -> Callable[..., int] | None:
    """A function of the C library by name, typed for ctypes; None where there is none (not glibc:
    musl has no malloc_trim, macOS neither it nor mallopt's parameters)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return cast(Callable[..., int], function)


_malloc_trim = glibc_function("malloc_trim", [ctypes.c_size_t], ctypes.c_int)

AVAILABLE = _malloc_trim is not None


def trim() -> bool:
    """glibc malloc_trim(0) (ctypes releases the GIL during the call); True when memory was returned."""
    return bool(_malloc_trim(0)) if _malloc_trim is not None else False


async def trim_when_idle(
    in_flight: Callable[[], int],
    ready: asyncio.Event,
    idle_s: float,
    *,
    trim_fn: Callable[[], bool] = trim,
    poll_s: float = POLL_S,
) -> None:
    """Runs until cancelled: trims once `ready` is set (the load's garbage), then after each spell of
    work once `in_flight()` has been 0 for `idle_s` seconds. Work shorter than a poll can go
    unnoticed; the next noticed one trims it too."""
    await ready.wait()
    await asyncio.to_thread(trim_fn)
    worked, last_busy = False, time.monotonic()
    while True:
        await asyncio.sleep(poll_s)
        now = time.monotonic()
        if in_flight() > 0:
            worked, last_busy = True, now
        elif worked and now - last_busy >= idle_s:
            worked = False
            released = await asyncio.to_thread(trim_fn)
            log.debug(
                "idle for %.1f s: malloc_trim %s", now - last_busy, "released memory" if released else ""
            )
