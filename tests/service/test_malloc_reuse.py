"""glibc keeps request-sized buffers mapped once `malloc_reuse.apply()` ran (no fresh page faults
for a buffer freed and allocated again in a worker thread), and `malloc_trim` still returns them."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# In a child process, since mallopt is process-wide. A worker thread (its own arena by default)
# allocates and frees a 96 MiB buffer (more than a thread arena's 64 MiB heap can hold) four times;
# the page faults of the last three rounds, then the RSS before and after malloc_trim, are printed.
_CHILD = textwrap.dedent(
    """
    import resource, sys, threading
    from pathlib import Path
    from service import malloc_reuse, memory_trim

    if sys.argv[1] == "reuse":
        assert malloc_reuse.apply()

    def rss_mib():
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    faults = []
    def rounds():
        for index in range(4):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            buffer = bytearray(96 << 20)  # zero-filled: every page touched
            del buffer
            if index:
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    thread = threading.Thread(target=rounds)
    thread.start()
    thread.join()
    kept = rss_mib()
    memory_trim.trim()
    print(sum(faults) // len(faults), round(kept), round(rss_mib()))
    """
)
PAGES = (96 << 20) // 4096


def _child(mode: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], check=True, capture_output=True, text=True, timeout=120
    ).stdout.split()
    faults, kept, trimmed = (int(value) for value in out)
    return faults, kept, trimmed


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_reused_buffers_fault_no_pages_in_and_trim_still_returns_them() -> None:
    default_faults, _, _ = _child("default")
    reuse_faults, kept, trimmed = _child("reuse")
    assert default_faults > PAGES // 2, default_faults  # glibc's defaults: every round faults afresh
    assert reuse_faults < PAGES // 20, reuse_faults
    assert kept - trimmed > 80, (kept, trimmed)  # the kept 96 MiB go back on malloc_trim
