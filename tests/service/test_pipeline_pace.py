"""The pipeline's pace (busy time per completed request) and what admission makes of it: the
expected wait behind the admitted work, refusals beyond `max_wait_s`, and a Retry-After derived
from the backlog instead of a constant."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from service.admission import Admission, AdmissionLimits
from service.error_response import error_response
from service.errors import ApiError, ErrorKind
from service.metrics import Metrics
from service.pipeline_pace import PipelinePace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_at_a_time_the_pace_is_the_latency_and_idle_time_does_not_count() -> None:
    clock = Clock()
    pace = PipelinePace(clock)
    assert pace.expected_wait_s() == 0.0  # nothing measured: no refusal on a fresh server
    for _ in range(3):
        pace.started()
        clock.now += 2.0
        pace.finished()
        clock.now += 50.0  # idle between requests
    assert pace.per_request_s == pytest.approx(2.0)
    pace.started()
    pace.started()
    assert pace.expected_wait_s() == pytest.approx(4.0)  # two in flight, 2 s each


def test_concurrent_requests_measure_the_throughput() -> None:
    clock = Clock()
    pace = PipelinePace(clock)
    for _ in range(4):  # four in flight, one completes every 0.5 s: 2 requests/s
        pace.started()
    for _ in range(40):
        clock.now += 0.5
        pace.finished()
        pace.started()
    assert pace.per_request_s == pytest.approx(0.5)
    assert pace.expected_wait_s() == pytest.approx(2.0)


def test_requests_that_did_not_complete_are_no_sample() -> None:
    clock = Clock()
    pace = PipelinePace(clock)
    pace.started()
    clock.now += 1.0
    pace.finished()
    pace.started()
    clock.now += 0.01
    pace.finished(completed=False)  # e.g. refused by the memory budget
    assert pace.per_request_s == pytest.approx(1.0) and pace.in_flight == 0


class Engine:
    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s

    def expected_wait_s(self) -> float:
        return self.wait_s


def admission(max_wait_s: float, engine_wait_s: float = 0.0, max_in_flight: int = 2) -> Admission:
    limits = AdmissionLimits(
        max_in_flight=max_in_flight,
        max_uploads=4,
        max_slow_uploads=1,
        memory_budget_bytes=1 << 30,
        max_wait_s=max_wait_s,
    )
    return Admission(limits, Metrics(CollectorRegistry()), Engine(engine_wait_s))


def test_the_longer_of_engine_and_pipeline_waits_decides_and_sets_retry_after() -> None:
    gate = admission(max_wait_s=5.0, engine_wait_s=3.0, max_in_flight=4)
    gate.check()  # 3 s expected: admitted
    # Two requests in flight (the pace holds admission's count), the pipeline the bottleneck: 8 s.
    gate.pace.per_request_s, gate.pace.in_flight = 4.0, 2
    with pytest.raises(ApiError) as refused:
        gate.check()
    assert refused.value.kind is ErrorKind.QUEUE_FULL
    assert refused.value.retry_after_s == pytest.approx(3.0)  # 8 s backlog - 5 s allowed


def test_a_full_in_flight_place_says_one_request_time() -> None:
    gate = admission(max_wait_s=100.0)
    gate.pace.per_request_s = 1.5
    with gate.slot(), gate.slot(), pytest.raises(ApiError) as refused:
        gate.check()
    assert refused.value.retry_after_s == pytest.approx(1.5)
    assert gate.in_flight == 0  # the slots gave their places back


@pytest.mark.parametrize(("estimate", "header"), [(None, "7"), (0.2, "1"), (2.2, "3")])
def test_retry_after_header_rounds_the_estimate_up(estimate: float | None, header: str) -> None:
    error = ApiError(ErrorKind.QUEUE_FULL, "busy", retry_after_s=estimate)
    response = error_response(error, metrics=Metrics(CollectorRegistry()), retry_after_s=7)
    assert response.status_code == 429 and response.headers["retry-after"] == header
