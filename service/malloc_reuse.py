"""Keep request-sized buffers mapped between requests (glibc `mallopt`), so the next request reuses
their pages instead of faulting fresh ones in.

Why: one 1080p cut-out allocates and frees tens of MB of temporaries in the CPU pool (float planes of
the photo, the colour estimate, PNG rows). With glibc's defaults every block above 128 KiB (a bound
that rises with freed blocks to at most 32 MiB) comes from mmap and goes back to the OS when freed,
the top of a heap is returned as soon as 128 KiB are free there, and each pool thread gets its own
arena, whose heaps cannot hold a block over 64 MiB (so a 12 MP plane is always mmapped). Each
request then touches fresh pages: 6,700-8,400 page faults for a 1080p rgba's colour step and encode,
~2 us each on the 2-core dev box, which made that step ~1.6x slower in the service than the same
code in a process whose heap was already grown (`python -m bench.malloc_reuse`, docs/benchmarks.md).

With one arena for every thread (the main heap grows with brk and holds any block), blocks under
256 MiB served from it, and 512 MiB of free heap top kept, the pages stay mapped while the service
works (~760 faults per call), and `service.memory_trim` still returns them once the service is idle:
`malloc_trim(0)` ignores the trim threshold. Threads mostly allocate under the GIL or a few large
blocks each, so one arena's lock costs nothing measurable here.

Not glibc (musl, macOS): `apply()` does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import logging

from service.memory_trim import glibc_function

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENA_MAX = 1
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20


_mallopt = glibc_function("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)


def apply() -> bool:
    """Sets the three parameters (process-wide; best called before threads allocate). True when
    glibc took all of them."""
    if _mallopt is None:
        return False
    settings = (
        (M_ARENA_MAX, ARENA_MAX),
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    )
    taken = all([bool(_mallopt(param, value)) for param, value in settings])
    if not taken:
        log.warning("glibc refused a malloc setting; request buffers may be faulted in afresh")
    return taken
