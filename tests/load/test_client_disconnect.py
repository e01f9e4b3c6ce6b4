"""A client that hangs up mid-upload against a real uvicorn process: the read meets starlette's
ClientDisconnect, which must be counted as status 499 / `client_closed` (never a 500 or an
internal_error) and logged as one line without a traceback."""

from __future__ import annotations

import socket

import httpx

from bench.server import LOOPBACK
from tests.load.conftest import StartServer, wait_for_metric

BOUNDARY = "hangup"


def abort_upload(port: int, content_type: str, first_part: bytes, declared: int = 200_000) -> None:
    """Send the headers and the start of a body that claims `declared` bytes, then hang up."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        head = (
            f"POST /remove-background HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode() + first_part)


def test_aborted_uploads_are_499_client_closed_not_500(
    start_server: StartServer, small_jpegs: list[bytes]
) -> None:
    server = start_server({"log_level": "info"})
    partial = small_jpegs[0][:1000]
    abort_upload(server.port, "image/jpeg", partial)  # raw body
    multipart_start = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + partial
    abort_upload(server.port, f"multipart/form-data; boundary={BOUNDARY}", multipart_start)

    closed = {"output": "unknown", "engine": "none", "status": "499"}
    assert wait_for_metric(server, "bgremove_requests_total", closed, 2) == 2
    assert server.metric("bgremove_errors_total", {"code": "client_closed"}) == 2
    assert server.metric("bgremove_errors_total", {"code": "internal_error"}) == 0
    assert server.metric("bgremove_requests_total", {"status": "500"}) == 0
    assert server.metric("bgremove_in_flight_requests") == 0  # their slots were given back
    log = server.log_tail(200_000)
    assert log.count("the client closed the connection during the upload") == 2, log
    assert "Traceback" not in log and "unhandled error" not in log, log
    with httpx.Client(base_url=server.base_url, timeout=30) as client:  # still serving
        r = client.post("/remove-background?output=mask", files={"image": ("p.jpg", small_jpegs[1])})
    assert r.status_code == 200, r.text
