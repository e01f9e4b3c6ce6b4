from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bgremove_client.retry import RetryPolicy, parse_retry_after


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=0.5, max_delay=4.0, jitter=0.0)
    assert [policy.delay(n, None) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_retry_after_is_a_floor_then_backoff_takes_over() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=0.5, max_delay=30.0, jitter=0.0)
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(4, 3.0) == 4.0  # 0.5 * 2**3 exceeds the server's 3 s


def test_jitter_stretches_within_bounds_and_never_below_retry_after() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=0.1, max_delay=30.0, jitter=0.25, rng=random.Random(1))
    delays = [policy.delay(1, 2.0) for _ in range(200)]
    assert all(d is not None and 2.0 <= d <= 2.5 for d in delays)
    assert len(set(delays)) > 100  # actually random, not a constant


def test_gives_up_after_max_retries_and_on_too_long_retry_after() -> None:
    policy = RetryPolicy(max_retries=2, max_delay=10.0)
    assert policy.delay(2, None) is not None
    assert policy.delay(3, None) is None
    assert policy.delay(1, 11.0) is None
    assert RetryPolicy(max_retries=0).delay(1, None) is None


def test_rejects_negative_values() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), (" 1.5 ", 1.5), ("-4", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(7.0)
    past = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
