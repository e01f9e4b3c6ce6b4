"""Upload size limit enforced while the body streams in, before it is all read.

A pure ASGI middleware: a declared Content-Length over the limit is refused with 413 before a byte
of the body is read; a body without (or lying about) its length is counted as it arrives and the
read fails with `ApiError(PAYLOAD_TOO_LARGE)` at the first chunk over the limit, which the app's
exception handler renders as 413.

`path_limits` gives some paths their own upload limit (videos are far larger than photos), so the
photo endpoints keep their small one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import ErrorResponder
from service.errors import ApiError, ErrorKind

# Multipart framing (boundaries, part headers, small form fields) on top of the image itself.
MULTIPART_SLACK_BYTES = 64 * 1024


class BodySizeLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_image_bytes: int,
        on_error: ErrorResponder,
        path_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.on_error = on_error
        self.max_image_bytes = max_image_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_upload = self.path_limits.get(scope.get("path", ""), self.max_image_bytes)
        max_body = max_upload + MULTIPART_SLACK_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > max_body:
            response = self.on_error(_error(max_upload), scope)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise _error(max_upload)
            return message

        await self.app(scope, counting_receive, send)


def _error(max_upload: int) -> ApiError:
    mib = max_upload / (1024 * 1024)
    return ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"upload larger than the {mib:g} MiB limit")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
