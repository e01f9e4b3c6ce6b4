"""Upload size limit enforced while the body streams in, before it is all read.

A pure ASGI middleware: a declared Content-Length over the limit is refused with 413 before a byte
of the body is read; a body without (or lying about) its length is counted as it arrives and the
read fails with `ApiError(PAYLOAD_TOO_LARGE)` at the first chunk over the limit, which the app's
exception handler renders as 413.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import ErrorResponder
from service.errors import ApiError, ErrorKind

# Multipart framing (boundaries, part headers, small form fields) on top of the image itself.
MULTIPART_SLACK_BYTES = 64 * 1024


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_image_bytes: int, on_error: ErrorResponder) -> None:
        self.app = app
        self.on_error = on_error
        self.max_body = max_image_bytes + MULTIPART_SLACK_BYTES
        self.max_image_bytes = max_image_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            response = self.on_error(self._error(), scope)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise self._error()
            return message

        await self.app(scope, counting_receive, send)

    def _error(self) -> ApiError:
        mib = self.max_image_bytes / (1024 * 1024)
        return ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"upload larger than the {mib:g} MiB limit")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
