"""The real app on a real uvicorn, on 127.0.0.1 and a free port, in a background thread.

The sync client, the CLI (a separate asyncio loop) and the browser all need a server they can reach
over TCP, which an in-process ASGI transport cannot give them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from bench.server import wait_ready
from service.app import create_app
from service.config import Settings
from service.engines.loader import EngineSet
from tests.apprunner import fakes, make_settings


def build_app(settings: Settings | None = None, engines: EngineSet | None = None) -> FastAPI:
    return create_app(settings or make_settings(), engines=engines or fakes(), registry=CollectorRegistry())


@contextlib.contextmanager
def serve(app: FastAPI, *, ready_timeout_s: float = 60.0) -> Iterator[str]:
    """Yields the base URL once /readyz answers 200; stops the server on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race with other test workers
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, thread.is_alive, ready_timeout_s)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
