"""Retry behaviour against a scripted server: backoff honours Retry-After, bounded attempts, which
errors are retried, and the exception types callers catch."""

from __future__ import annotations

import random
import socket

import httpx
import pytest

from bgremove_client import (
    AsyncBgRemoveClient,
    BgRemoveClient,
    ConnectionFailed,
    NonRetryableError,
    RetryableError,
    RetryPolicy,
)
from tests.client.scripted import PNG_BYTES, Reply, ScriptedServer, busy, ok

POLICY = RetryPolicy(max_retries=3, base_delay=0.1, max_delay=10.0, jitter=0.25, rng=random.Random(0))


def sync_client(server: ScriptedServer, sleeps: list[float], policy: RetryPolicy = POLICY) -> BgRemoveClient:
    return BgRemoveClient(
        "http://scripted", retry=policy, transport=httpx.MockTransport(server.handle), sleep=sleeps.append
    )


def async_client(server: ScriptedServer, sleeps: list[float]) -> AsyncBgRemoveClient:
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncBgRemoveClient(
        "http://scripted", retry=POLICY, transport=httpx.ASGITransport(app=server), sleep=record
    )


def test_sync_retries_503_twice_honouring_retry_after(jpeg_bytes: bytes) -> None:
    server = ScriptedServer([busy("2"), busy("2"), ok()])
    sleeps: list[float] = []
    with sync_client(server, sleeps) as client:
        result = client.remove_background(jpeg_bytes, output="mask")
    assert result.attempts == 3
    assert result.content == PNG_BYTES
    assert (result.engine, result.model, result.processing_ms) == ("modnet", "scripted-1", 12.5)
    assert len(sleeps) == 2 and all(2.0 <= s <= 2.5 for s in sleeps)
    # Every attempt re-sent the whole image and the parameters.
    assert all(jpeg_bytes in body and "output=mask" in query for query, body in server.requests)


async def test_async_retries_503_twice_honouring_retry_after(jpeg_bytes: bytes) -> None:
    server = ScriptedServer([busy("2"), busy("2", code="queue_full", status=429), ok()])
    sleeps: list[float] = []
    async with async_client(server, sleeps) as client:
        result = await client.remove_background(jpeg_bytes)
    assert result.attempts == 3
    assert len(sleeps) == 2 and all(2.0 <= s <= 2.5 for s in sleeps)
    assert len(server.requests) == 3 and all(jpeg_bytes in body for _, body in server.requests)


def test_retries_re_stream_a_path_each_attempt(jpeg_path, jpeg_bytes: bytes) -> None:
    server = ScriptedServer([busy("1"), ok()])
    with sync_client(server, []) as client:
        client.remove_background(jpeg_path)
    assert [jpeg_bytes in body for _, body in server.requests] == [True, True]


def test_without_retry_after_backoff_grows_exponentially(jpeg_bytes: bytes) -> None:
    server = ScriptedServer([busy(None, status=502), busy(None), busy(None), ok()])
    sleeps: list[float] = []
    policy = RetryPolicy(max_retries=3, base_delay=0.1, jitter=0.0)
    with sync_client(server, sleeps, policy) as client:
        assert client.remove_background(jpeg_bytes).attempts == 4
    assert sleeps == pytest.approx([0.1, 0.2, 0.4])


def test_gives_up_after_max_retries_with_the_server_code(jpeg_bytes: bytes) -> None:
    server = ScriptedServer([busy("1", code="not_ready")])
    sleeps: list[float] = []
    with sync_client(server, sleeps) as client, pytest.raises(RetryableError) as info:
        client.remove_background(jpeg_bytes)
    err = info.value
    assert (err.status, err.code, err.retry_after, err.attempts) == (503, "not_ready", 1.0, 4)
    assert err.message == "busy, come back"
    assert len(server.requests) == 4 and len(sleeps) == 3


def test_retry_after_beyond_max_delay_is_raised_not_waited(jpeg_bytes: bytes) -> None:
    server = ScriptedServer([busy("3600"), ok()])
    sleeps: list[float] = []
    with sync_client(server, sleeps) as client, pytest.raises(RetryableError) as info:
        client.remove_background(jpeg_bytes)
    assert info.value.retry_after == 3600 and info.value.attempts == 1 and sleeps == []


@pytest.mark.parametrize(("status", "code"), [(400, "invalid_image"), (413, "payload_too_large"), (500, "")])
def test_client_errors_are_not_retried(jpeg_bytes: bytes, status: int, code: str) -> None:
    body = b'{"error": {"code": "%s", "message": "nope"}}' % code.encode() if code else b"<html>oops</html>"
    server = ScriptedServer([Reply(status, {"content-type": "text/plain"}, body)])
    with sync_client(server, []) as client, pytest.raises(NonRetryableError) as info:
        client.remove_background(jpeg_bytes)
    assert info.value.status == status and info.value.attempts == 1 and len(server.requests) == 1
    assert info.value.code == (code or f"http_{status}")
    assert info.value.message == ("nope" if code else "<html>oops</html>")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_retried_then_raised(jpeg_bytes: bytes) -> None:
    sleeps: list[float] = []
    client = BgRemoveClient(f"http://127.0.0.1:{_closed_port()}", retry=POLICY, sleep=sleeps.append)
    with client, pytest.raises(ConnectionFailed) as info:
        client.remove_background(jpeg_bytes)
    assert info.value.status is None and info.value.code == "connection_error"
    assert info.value.attempts == 4 and len(sleeps) == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_async_connection_refused_is_retried_then_raised(jpeg_bytes: bytes) -> None:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    client = AsyncBgRemoveClient(f"http://127.0.0.1:{_closed_port()}", retry=POLICY, sleep=record)
    async with client:
        with pytest.raises(ConnectionFailed) as info:
            await client.remove_background(jpeg_bytes)
    assert info.value.attempts == 4 and len(sleeps) == 3
