"""Both of uvicorn's HTTP implementations, as subclassed by service.http_protocol, answer an
unparseable request with the API's JSON 400 (the entry point test covers the one `python -m service`
picks; this one covers the h11 fallback too)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from service.http_protocol import JsonErrorH11Protocol, json_error_protocol


@pytest.fixture(params=["h11", "auto"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    protocol: type[asyncio.Protocol] = (
        JsonErrorH11Protocol if request.param == "h11" else json_error_protocol()
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(FastAPI(), http=protocol, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_an_unparseable_request_line_gets_json(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"GET / HTTP/1.1 trailing-garbage\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"\r\ncontent-type: application/json\r\n" in head
    assert json.loads(body)["error"]["code"] == "invalid_parameter"
