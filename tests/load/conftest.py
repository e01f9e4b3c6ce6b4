"""Real `python -m service` processes on 127.0.0.1 with the fake engine (bench.fake_engine), started
per test and always stopped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from bench.images import request_jpegs
from bench.server import ServerProcess, ServerSpec

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    started: list[ServerProcess] = []

    def start(settings: Mapping[str, str], env: Mapping[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(ServerSpec("fake", settings, env or {}), tmp_path)
        started.append(server)
        server.start(ready_timeout_s=60)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def small_jpegs() -> list[bytes]:
    """Small real photos (or synthesised ones without ../shared): decode and encode stay cheap, so
    the engine's latency dominates what these tests observe."""
    return request_jpegs(4, 160, 120)


def wait_for_metric(
    server: ServerProcess,
    name: str,
    labels: Mapping[str, str],
    expected: float,
    timeout_s: float = 10.0,
) -> float:
    """Polls /metrics until the sample equals `expected` (metrics move after the response is sent)."""
    deadline = time.monotonic() + timeout_s
    value = server.metric(name, labels)
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = server.metric(name, labels)
    return value
