"""Overload against a real uvicorn process: offered load well beyond what the (fake, slow) engine can
serve, for a bounded time, on 127.0.0.1.

What must hold, as behaviour (no timing thresholds; refusal latency and goodput are measured by
`python -m bench.attack`): overflow is refused with 429 `queue_full` + Retry-After, every admitted
request completes with 200 (none times out: admission refuses what could not finish in time), the
server counts what the clients saw, and it is healthy afterwards with nothing left queued.
"""

from __future__ import annotations

import socket
import threading

import httpx

from bench.load import LoadPlan, run_load_sync
from bench.server import LOOPBACK
from tests.load.conftest import StartServer, wait_for_metric

BATCH_MS = 500.0
MAX_BATCH = 4
MAX_QUEUE = 8


def test_overflow_is_refused_and_admitted_work_completes(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    server = start_server(
        {
            "max_batch_size": str(MAX_BATCH),
            "max_batch_wait_ms": "5",
            "max_queue": str(MAX_QUEUE),
            "request_timeout_s": "10",
            "cpu_workers": "2",
        },
        {"BENCH_FAKE_BATCH_MS": str(BATCH_MS)},
    )
    # 16 closed-loop clients against room for 12 (4 in the engine + 8 queued); a refused client
    # pauses 100 ms so refusals do not become a busy loop that starves the server of CPU.
    plan = LoadPlan(
        path="/remove-background?output=mask",
        concurrency=16,
        requests=2000,
        time_limit_s=5.0,
        request_timeout_s=15.0,
        pause_after_refusal_s=0.1,
    )
    result = run_load_sync(server.base_url, plan, small_jpegs)

    statuses = result.summary()["statuses"]
    assert set(statuses) <= {"200", "429"}, statuses  # no 5xx, no timeout, nothing lost
    refused = [o for o in result.outcomes if o.status == 429]
    admitted = result.latencies()
    assert len(refused) > 0 and len(admitted) > 0, statuses
    assert all(o.detail == "queue_full" and o.retry_after and int(o.retry_after) >= 1 for o in refused)

    # The server counted what the clients saw (each refusal under one of admission's reasons), and
    # is still healthy with nothing left queued or in flight.
    text = server.metrics_text()
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bgremove_rejected_total{")
    )
    assert counted == len(refused), text
    ok_total = {"output": "mask", "engine": "modnet", "status": "200"}
    assert wait_for_metric(server, "bgremove_requests_total", ok_total, len(admitted)) == len(admitted)
    assert server.metric("bgremove_errors_total", {"code": "timeout"}) == 0
    assert server.metric("bgremove_queue_depth", {"engine": "modnet"}) == 0
    assert server.metric("bgremove_in_flight_requests") == 0
    assert server.alive()


def test_a_refusal_before_the_upload_reaches_the_client_on_a_kept_connection(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    # Refused before its body is read, a small body is read and dropped, so the 429 arrives (closing
    # with the body still arriving resets the connection: the client saw no answer at all) and the
    # connection stays usable; a body too large to drain gets the 429 and a closed connection.
    server = start_server({"max_in_flight": "1", "request_timeout_s": "20"}, {"BENCH_FAKE_BATCH_MS": "4000"})
    with httpx.Client(base_url=server.base_url, timeout=30) as busy_client:
        busy = threading.Thread(target=busy_client.post, args=(PATH,), kwargs={"content": small_jpegs[0]})
        busy.start()
        wait_for_metric(server, "bgremove_in_flight_requests", {}, 1)
        with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
            refused = exchange(sock, post_head(server.port, len(small_jpegs[1])) + small_jpegs[1])
            assert refused.startswith(b"HTTP/1.1 429") and b"queue_full" in refused, refused[:300]
            assert b"connection: close" not in refused.lower()
            again = exchange(sock, f"GET /healthz HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode())
            assert again.startswith(b"HTTP/1.1 200"), again[:200]  # the same connection, still in sync
        with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
            sock.sendall(post_head(server.port, 8 * 1024 * 1024))  # declares more than is drained
            big = sock.recv(65536)
            assert big.startswith(b"HTTP/1.1 429") and b"connection: close" in big.lower(), big[:300]
        busy.join()


PATH = "/remove-background?output=mask"


def post_head(port: int, length: int) -> bytes:
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def exchange(sock: socket.socket, data: bytes) -> bytes:
    """Sends `data` and reads one whole response (head, then Content-Length bytes of body)."""
    sock.sendall(data)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body
