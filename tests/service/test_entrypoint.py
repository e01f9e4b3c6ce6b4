"""`python -m service`, the real entry point with its real uvicorn and logging set-up (GrabCut only):

- at INFO the access log has ordinary requests but not probes and scrapes (/healthz, /readyz,
  /metrics, with or without a query string);
- a request uvicorn cannot parse (a 100 KB query string, a garbage request line) or whose head is over
  the bound (a 200 KB header) gets the API's JSON 400, not uvicorn's text/plain one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.locations import REPO


@dataclass
class Server:
    base_url: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("entrypoint")
    port = _free_port()
    env = {
        **os.environ,
        "BGREMOVE_HOST": "127.0.0.1",
        "BGREMOVE_PORT": str(port),
        "BGREMOVE_LOG_LEVEL": "info",
        "BGREMOVE_WEIGHTS_PATH": str(tmp / "none.safetensors"),  # GrabCut only: quick start
        "BGREMOVE_WARMUP": "false",
    }
    srv = Server(f"http://127.0.0.1:{port}", port, tmp / "server.log")
    with srv.log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, srv.log_text()
            assert time.monotonic() < deadline, srv.log_text()
            try:
                if httpx.get(f"{srv.base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield srv
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _wait_for_log(srv: Server, needle: str) -> str:
    deadline = time.monotonic() + 30  # a guard against hanging, not a measurement
    while needle not in (text := srv.log_text()):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    return text


def test_probe_requests_are_not_in_the_access_log(server: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/healthz?probe=1", "/openapi.json", "/nowhere"):
        httpx.get(server.base_url + path, timeout=10)
    # Logged in request order: once the last one is there, the earlier ones would be too.
    text = _wait_for_log(server, '"GET /nowhere HTTP/1.1" 404')
    assert '"GET /openapi.json HTTP/1.1" 200' in text, text  # the access log is on...
    for probe in ("/healthz", "/readyz", "/metrics"):  # ...without the probes
        assert f"GET {probe}" not in text, text


def _raw_request(server: Server, head: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(
            b"GET /remove-background?x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="100kb-query"
        ),
        pytest.param(b"GARBAGE\r\n\r\n", id="garbage-request-line"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n",
            id="200kb-header",
        ),
    ],
)
def test_unparseable_requests_get_the_json_error(server: Server, head: bytes) -> None:
    status, headers, body = _raw_request(server, head)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_parameter"
    assert "could not be parsed" in error["message"]
    # The server is fine afterwards.
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
