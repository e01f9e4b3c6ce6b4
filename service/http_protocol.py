"""uvicorn's HTTP protocol with the API's JSON error for requests it cannot parse.

A request line or header that uvicorn's parser refuses (malformed, or e.g. a 100 KB query string)
never reaches the app, so no handler or middleware can shape the answer: uvicorn writes its own
`400 text/plain "Invalid HTTP request received."`. Clients of this API parse
`{"error": {"code", "message"}}` on every 4xx; this subclass writes that instead, from the one place
uvicorn calls for it (`send_400_response`, the same in both of its HTTP implementations). The
connection is closed right after, as uvicorn does, so writing the bytes directly is safe.

The request head is also bounded here: h11 stops at 16 KiB of incomplete head by itself, httptools
(uvicorn's default) has no limit and would collect megabytes of headers from a hostile client. Over
`MAX_HEAD_BYTES` of URL + headers the parser callback raises, which httptools reports as a parse
error: the same JSON 400, connection closed.

A request head has a deadline too (`header_timeout_s`): uvicorn times out only idle keep-alive
connections, so a client that connects and sends nothing, or trickles its head a byte at a time
(slowloris), would hold its connection forever. The timer starts when the connection is made or
a request's first byte arrives, stops when the head is complete, and on expiry writes a JSON 408
and closes the connection. The body has its own clock in the app (`service.upload`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.errors import ApiError, ErrorKind

MAX_HEAD_BYTES = 64 * 1024
"""URL plus header names and values; browsers and proxies stay far below (nginx: 4 x 8 KiB)."""

_MESSAGE = (
    "the HTTP request could not be parsed (malformed or too long request line or header); "
    "send parameters as form fields instead of a very long query string"
)


HEADER_TIMEOUT_S = 10.0


def _json_400(protocol: Any, reason: str) -> None:
    _json_error(protocol, b"400 Bad Request", ApiError(ErrorKind.INVALID_PARAMETER, f"{_MESSAGE}: {reason}"))


def _json_error(protocol: Any, status: bytes, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    lines = [b"HTTP/1.1 " + status + b"\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in protocol.server_state.default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    protocol.transport.write(b"".join(lines))
    protocol.transport.close()


class HeadDeadline:
    """Mixin for both uvicorn HTTP protocols: a deadline on reading each request head. Between
    requests (no cycle, or the last one answered) bytes that arrive start the timer; once a cycle
    has begun the head was complete, and the timer stops."""

    header_timeout_s = HEADER_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None
    cycle: Any
    transport: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._between_requests():
            self._arm_head_timer()
        super().data_received(data)  # type: ignore[misc]
        if not self._between_requests():
            self._stop_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _between_requests(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            loop = asyncio.get_running_loop()
            self._head_timer = loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._between_requests():
            return
        message = f"the request head did not arrive within {self.header_timeout_s:g} s"
        _json_error(self, b"408 Request Timeout", ApiError(ErrorKind.UPLOAD_TIMEOUT, message))


class JsonErrorH11Protocol(HeadDeadline, H11Protocol):
    def send_400_response(self, msg: str) -> None:
        _json_400(self, msg)


def json_error_protocol(header_timeout_s: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """The protocol class for `uvicorn.run(http=...)`: httptools (uvicorn's "auto" choice) when
    installed, else h11; request heads must arrive within `header_timeout_s`."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional in uvicorn; [standard] brings it
        return type("JsonErrorH11Protocol", (JsonErrorH11Protocol,), {"header_timeout_s": header_timeout_s})

    class JsonErrorHttpToolsProtocol(HeadDeadline, HttpToolsProtocol):
        header_timeout_s = HEADER_TIMEOUT_S
        _head_bytes = 0

        def send_400_response(self, msg: str) -> None:
            _json_400(self, msg)

        def on_message_begin(self) -> None:
            self._head_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value))
            super().on_header(name, value)

        def _count_head(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > MAX_HEAD_BYTES:  # raised inside a parser callback: a parse error
                raise ValueError(f"request head over {MAX_HEAD_BYTES} bytes")

    JsonErrorHttpToolsProtocol.header_timeout_s = header_timeout_s
    return JsonErrorHttpToolsProtocol
