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


def _json_400(protocol: Any, reason: str) -> None:
    body = json.dumps(ApiError(ErrorKind.INVALID_PARAMETER, f"{_MESSAGE}: {reason}").body()).encode()
    lines = [b"HTTP/1.1 400 Bad Request\r\n"]
    lines += [name + b": " + value + b"\r\n" for name, value in protocol.server_state.default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    protocol.transport.write(b"".join(lines))
    protocol.transport.close()


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        _json_400(self, msg)


def json_error_protocol() -> type[asyncio.Protocol]:
    """The protocol class for `uvicorn.run(http=...)`: httptools (uvicorn's "auto" choice) when
    installed, else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional in uvicorn; [standard] brings it
        return JsonErrorH11Protocol

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
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

    return JsonErrorHttpToolsProtocol
