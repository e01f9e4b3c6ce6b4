"""How fast the whole pipeline finishes requests: seconds of busy time per completed request.

Admission needs the wait a new request faces behind the ones already in flight. The engine's own
estimate (`service_times.TimedEngine`) sees only its queue; on a CPU node decode, upsampling, colour
estimation and encode share the cores with the model, and with rgba outputs they are the bottleneck
(issue 15). So this measures the pipeline end to end, from the outside: the busy time (some request
in flight) between two completions, averaged (EWMA). Saturated, that is the inverse of the
throughput; lightly loaded, a request's own latency, which is the conservative side (concurrency
only raises the throughput). The requests ahead then drain in `in_flight x per_request_s`.

It is the time a request is *in flight* (after its body is read) that counts, so slow uploads do
not make the server look slow. Not thread-safe: the event loop calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

EWMA_WEIGHT = 0.1  # a new sample's share: about the last 10-20 completions


class PipelinePace:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.in_flight = 0
        self.per_request_s: float | None = None  # None until a request completed
        self._busy = 0.0  # busy seconds since the last completion
        self._mark = 0.0  # when `_busy` was last brought up to date

    def started(self) -> None:
        self._catch_up()
        self.in_flight += 1

    def finished(self, *, completed: bool = True) -> None:
        """One request left the pipeline; `completed=False` (refused or failed early, its client
        gone) frees its place without counting as a sample."""
        self._catch_up()
        self.in_flight -= 1
        if completed:
            sample, self._busy = self._busy, 0.0
            previous = self.per_request_s
            self.per_request_s = sample if previous is None else previous + EWMA_WEIGHT * (sample - previous)

    def expected_wait_s(self) -> float:
        """Seconds until the requests in flight now have drained (0 before the first completion)."""
        return 0.0 if self.per_request_s is None else self.in_flight * self.per_request_s

    def _catch_up(self) -> None:
        now = self._clock()
        if self.in_flight > 0:
            self._busy += now - self._mark
        self._mark = now
