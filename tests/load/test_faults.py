"""Faults against a real uvicorn process (the in-process API tests cover the single-request
fallback and timeout paths; these check what only a real server shows): a client that hangs up
while its item is queued has the item dropped before inference; a deadline that passes in the queue
drops the item too; a simulated CUDA OOM falls back to the real GrabCut for every item of the
failed batch. After each, the server is still healthy and serves the next request."""

from __future__ import annotations

import asyncio
import socket

import httpx

from bench.server import LOOPBACK, ServerProcess
from tests.load.conftest import StartServer, wait_for_metric

SLOW = {"max_batch_size": "1", "max_batch_wait_ms": "0", "max_queue": "8"}
ENGINE_LABEL = {"engine": "modnet"}


def send_raw_request(port: int, body: bytes) -> socket.socket:
    """A complete HTTP request on a raw socket, left open: closing it is the client hanging up."""
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    head = (
        "POST /remove-background?output=mask HTTP/1.1\r\n"
        f"Host: {LOOPBACK}:{port}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def assert_healthy(server: ServerProcess, body: bytes) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        r = client.post("/remove-background?output=mask", files={"image": ("p.jpg", body, "image/jpeg")})
        assert r.status_code == 200, r.text
    assert server.alive()


async def test_client_disconnect_while_queued_drops_the_item(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    server = start_server(SLOW, {"BENCH_FAKE_BATCH_MS": "1500"})
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        busy = asyncio.ensure_future(
            client.post("/remove-background?output=mask", files={"image": ("a.jpg", small_jpegs[0])})
        )
        # The first request is inside the engine once nothing is queued but a batch started.
        assert (
            await asyncio.to_thread(wait_for_metric, server, "bgremove_batch_size_count", ENGINE_LABEL, 1)
            == 1
        )
        leaver = send_raw_request(server.port, small_jpegs[1])
        assert (
            await asyncio.to_thread(wait_for_metric, server, "bgremove_queue_depth", ENGINE_LABEL, 1) == 1
        ), "the second request never reached the queue"
        leaver.close()  # hang up while queued behind the busy engine
        assert (
            await asyncio.to_thread(
                wait_for_metric,
                server,
                "bgremove_dropped_items_total",
                {"engine": "any", "reason": "client_disconnected"},
                1,
            )
            == 1
        )
        first = await busy
    assert first.status_code == 200
    # Once the engine is free, the batcher discards the withdrawn item instead of running it.
    dropped = {"engine": "modnet", "reason": "cancelled"}
    assert wait_for_metric(server, "bgremove_dropped_items_total", dropped, 1) == 1
    assert server.metric("bgremove_batch_size_sum", ENGINE_LABEL) == 1  # only the first image ran
    assert server.metric("bgremove_queue_depth", ENGINE_LABEL) == 0
    assert server.metric("bgremove_in_flight_requests") == 0
    assert_healthy(server, small_jpegs[2])
    assert server.metric("bgremove_batch_size_sum", ENGINE_LABEL) == 2


async def test_deadline_passed_in_queue_gives_503_and_never_runs(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    server = start_server({**SLOW, "request_timeout_s": "0.5"}, {"BENCH_FAKE_BATCH_MS": "1500"})
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        post = lambda body: client.post(  # noqa: E731
            "/remove-background?output=mask", files={"image": ("p.jpg", body)}
        )
        responses = await asyncio.gather(post(small_jpegs[0]), post(small_jpegs[1]))
    for r in responses:
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "timeout"
        assert int(r.headers["retry-after"]) >= 1
    assert server.metric("bgremove_errors_total", {"code": "timeout"}) == 2
    # One item was in the engine when its deadline passed; the other never got there and is
    # dropped as soon as the engine frees up (after the 1.5 s batch), not run for nobody.
    dropped = {"engine": "modnet", "reason": "cancelled"}
    assert wait_for_metric(server, "bgremove_dropped_items_total", dropped, 1) == 1
    assert server.metric("bgremove_batch_size_sum", ENGINE_LABEL) == 1
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/healthz").status_code == 200


async def test_simulated_cuda_oom_falls_back_to_grabcut_for_the_whole_batch(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    clients = 4  # one batch of 4 (the 200 ms window gathers them), failed as a whole
    server = start_server(
        {"max_batch_size": str(clients), "max_batch_wait_ms": "200"}, {"BENCH_FAKE_FAIL": "oom"}
    )
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post("/remove-background", files={"image": ("p.jpg", small_jpegs[i % 4])})
                for i in range(clients)
            )
        )
    for r in responses:
        assert r.status_code == 200, r.text
        assert r.headers["x-engine"] == "grabcut"
        assert r.headers["x-fallback-reason"] == "out_of_memory"
        assert r.headers["content-type"] == "image/png"
    assert server.metric("bgremove_fallbacks_total", {"reason": "out_of_memory"}) == clients
    # MODNet saw them all twice: the batch of 4, then each item alone (a batch's failure is retried
    # item by item before any fallback; an OOM that every item hits alone falls back for all).
    assert server.metric("bgremove_batch_size_sum", ENGINE_LABEL) == 2 * clients
    assert server.metric("bgremove_batch_size_count", ENGINE_LABEL) == 1 + clients
    assert server.metric("bgremove_batch_size_sum", {"engine": "grabcut"}) == clients
    ok = {"output": "rgba", "engine": "grabcut", "status": "200"}
    assert wait_for_metric(server, "bgremove_requests_total", ok, clients) == clients
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/readyz").status_code == 200  # an OOM does not make the server unready
