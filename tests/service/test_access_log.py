"""`python -m service` at INFO logs ordinary requests but not probes and scrapes (/healthz, /readyz,
/metrics, with or without a query string): the real entry point, its real logging configuration."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probe_requests_are_not_in_the_access_log(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "BGREMOVE_HOST": "127.0.0.1",
        "BGREMOVE_PORT": str(port),
        "BGREMOVE_LOG_LEVEL": "info",
        "BGREMOVE_WEIGHTS_PATH": str(tmp_path / "none.safetensors"),  # GrabCut only: quick start
        "BGREMOVE_WARMUP": "false",
    }
    log = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        for path in ("/healthz", "/readyz", "/metrics", "/healthz?probe=1", "/openapi.json", "/nowhere"):
            httpx.get(base + path, timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    text = log.read_text()
    assert '"GET /openapi.json HTTP/1.1" 200' in text, text  # the access log is on...
    assert '"GET /nowhere HTTP/1.1" 404' in text, text
    for probe in ("/healthz", "/readyz", "/metrics"):  # ...without the probes
        assert f"GET {probe}" not in text, text
