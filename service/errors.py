"""One table of error kinds -> HTTP status, one exception type, one JSON shape.

Every error the API returns is `{"error": {"code": ..., "message": ...}}` (the remove.bg-compatible
alias: `{"errors": [{"title": ..., "code": ...}]}`); the failure counter is labelled with the same
code (text-embeddings-inference's pattern: one enum, one mapping). `service.error_response` renders
both.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID_IMAGE = "invalid_image"  # bytes that do not decode as an allowed image
    INVALID_PARAMETER = "invalid_parameter"  # unknown/ill-formed query or form value
    MISSING_IMAGE = "missing_image"  # no `image` field and no image body
    PAYLOAD_TOO_LARGE = "payload_too_large"  # body over max_upload_bytes
    IMAGE_TOO_LARGE = "image_too_large"  # pixel count over max_pixels (decompression bombs)
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # content type / image format not allowed
    UNAUTHORIZED = "unauthorized"  # API keys enabled and none/wrong given
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    QUEUE_FULL = "queue_full"  # admission refused: try again after Retry-After
    NOT_READY = "not_ready"  # starting up or draining
    ENGINE_UNAVAILABLE = "engine_unavailable"  # engine=modnet asked for, no MODNet loaded
    TIMEOUT = "timeout"  # request deadline passed before a result
    UPLOAD_TIMEOUT = "upload_timeout"  # the body did not arrive in time (slow or stalled upload)
    CLIENT_CLOSED = "client_closed"  # the client hung up mid-upload; nobody reads the answer
    MISSING_VIDEO = "missing_video"  # no `video` field and no video body
    INVALID_VIDEO = "invalid_video"  # not an MP4/MOV/WebM/MKV with a decodable video stream
    VIDEO_TOO_LARGE = "video_too_large"  # duration, frame count or frame size over the limits
    VIDEO_UNAVAILABLE = "video_unavailable"  # this build has no video support (the `video` extra)
    INTERNAL = "internal_error"


STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID_IMAGE: 400,
    ErrorKind.INVALID_PARAMETER: 400,
    ErrorKind.MISSING_IMAGE: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.UPLOAD_TIMEOUT: 408,
    ErrorKind.PAYLOAD_TOO_LARGE: 413,
    ErrorKind.IMAGE_TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.QUEUE_FULL: 429,
    # nginx's "client closed request": the client's doing, so never a 5xx in the metrics.
    ErrorKind.CLIENT_CLOSED: 499,
    ErrorKind.MISSING_VIDEO: 400,
    ErrorKind.INVALID_VIDEO: 400,
    ErrorKind.VIDEO_TOO_LARGE: 413,
    ErrorKind.INTERNAL: 500,
    ErrorKind.VIDEO_UNAVAILABLE: 501,
    ErrorKind.NOT_READY: 503,
    ErrorKind.ENGINE_UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 503,
}

# Kinds that mean "the server is busy, come back": these carry a Retry-After header.
RETRYABLE: frozenset[ErrorKind] = frozenset({ErrorKind.QUEUE_FULL, ErrorKind.NOT_READY, ErrorKind.TIMEOUT})


MAX_ECHO_CHARS = 40


def shown(value: str) -> str:
    """A client's value quoted for an error message, cut to MAX_ECHO_CHARS: an error must not
    mirror a 100 KB parameter (or whatever it hides) back at its sender."""
    cut = value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + "..."
    return repr(cut)


class ApiError(Exception):
    """Raised anywhere below the routes; rendered by the app's one exception handler."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        # For a retryable kind: when a retry could succeed, if the raiser can tell (admission can);
        # None: the configured default.
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        return STATUS[self.kind]

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.kind.value, "message": self.message}}

    def removebg_body(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [{"title": self.message, "code": self.kind.value}]}
