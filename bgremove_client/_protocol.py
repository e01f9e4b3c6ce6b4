"""What the sync and async clients share: turning inputs into a request and a response into a result
or an exception. No I/O on the network here, so both clients stay thin loops around it."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TypedDict, cast

import httpx

from bgremove_client.errors import BgRemoveError, ConnectionFailed, RetryableError, error_for_status
from bgremove_client.result import RemovalResult
from bgremove_client.retry import RetryPolicy, parse_retry_after

Output = Literal["rgba", "mask", "composite", "zip"]
Format = Literal["png", "webp", "jpeg"]
Engine = Literal["auto", "modnet", "grabcut"]
Refine = Literal["none", "trimap"]


class CommonOptions(TypedDict, total=False):
    """Keyword options shared by the per-output helpers (cutout, mask, composite, zip_bundle)."""

    engine: Engine
    refine: Refine
    decontaminate: bool
    filename: str


ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
"""A path (streamed from disk, never read whole), raw bytes, or a binary file object."""

DEFAULT_URL = "http://127.0.0.1:8000"
ENDPOINT = "/remove-background"

# Failures below HTTP that are worth another try; LocalProtocolError/UnsupportedProtocol are caller bugs.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff_media_type(head: bytes, filename: str | None = None) -> str:
    """Content type from the first bytes, else from the file name, else application/octet-stream."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    guessed = mimetypes.guess_type(filename)[0] if filename else None
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class ImageSource:
    """An upload that can be sent more than once (each retry re-opens or rewinds it)."""

    filename: str
    media_type: str
    path: Path | None = None
    data: bytes | None = None
    stream: BinaryIO | None = None

    @classmethod
    def from_input(cls, image: ImageInput, filename: str | None = None) -> ImageSource:
        if isinstance(image, str | os.PathLike):
            path = Path(image)
            with path.open("rb") as fh:  # only the magic bytes; the body is streamed per attempt
                head = fh.read(16)
            name = filename or path.name
            return cls(name, sniff_media_type(head, name), path=path)
        if isinstance(image, bytes | bytearray | memoryview):
            data = bytes(image)
            name = filename or "image"
            return cls(name, sniff_media_type(data[:16], name), data=data)
        name = filename or Path(str(getattr(image, "name", "image"))).name
        seekable = getattr(image, "seekable", None)
        if callable(seekable) and seekable():
            start = image.tell()
            head = image.read(16)
            image.seek(start)
            return cls(name, sniff_media_type(head, name), stream=cast(BinaryIO, _FromOffset(image, start)))
        # A pipe or socket cannot be rewound for a retry, so it is read once here.
        data = image.read()
        return cls(name, sniff_media_type(data[:16], name), data=data)

    @contextmanager
    def open(self) -> Iterator[tuple[str, BinaryIO | bytes, str]]:
        """The (filename, body, content type) triple of httpx's `files=`; httpx streams file bodies
        in 64 KiB chunks and sends their length from fstat, so big files never sit in memory."""
        if self.path is not None:
            with self.path.open("rb") as fh:
                yield self.filename, fh, self.media_type
        elif self.stream is not None:
            yield self.filename, self.stream, self.media_type
        else:
            yield self.filename, self.data or b"", self.media_type


class _FromOffset(io.RawIOBase):
    """A view of a caller's seekable stream that starts where the caller's position was, because
    httpx rewinds upload streams to 0 before sending them."""

    def __init__(self, inner: BinaryIO, start: int) -> None:
        super().__init__()
        self._inner = inner
        self._start = start
        self._inner.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return self._inner.seek(self._start + offset) - self._start
        return self._inner.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._inner.tell() - self._start

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def build_params(
    *,
    output: str | None,
    format: str | None,
    bg_color: str | None,
    engine: str | None,
    refine: str | None,
    decontaminate: bool | None,
) -> dict[str, str]:
    """Query parameters; None leaves the server's default in force."""
    values: dict[str, str | bool | None] = {
        "output": output,
        "format": format,
        "bg_color": bg_color,
        "engine": engine,
        "refine": refine,
        "decontaminate": decontaminate,
    }
    params: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif value is not None:
            params[key] = str(value)
    return params


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


def result_from_response(response: httpx.Response, attempts: int) -> RemovalResult:
    headers = response.headers
    media_type = headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    return RemovalResult(
        content=response.content,
        media_type=media_type,
        engine=headers.get("x-engine", ""),
        model=headers.get("x-model", ""),
        processing_ms=_float_or_none(headers.get("x-processing-time-ms")),
        fallback_reason=headers.get("x-fallback-reason") or None,
        attempts=attempts,
        width=_int_or_none(headers.get("x-image-width")),
        height=_int_or_none(headers.get("x-image-height")),
    )


def error_from_response(response: httpx.Response, attempts: int) -> BgRemoveError:
    """The server's {"error": {"code", "message"}} body; a proxy's HTML page or empty body also maps."""
    code, message = f"http_{response.status_code}", response.reason_phrase or "request failed"
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
    elif response.text.strip():
        message = response.text.strip()[:500]
    return error_for_status(
        response.status_code,
        code,
        message,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        attempts=attempts,
    )


def connection_error(exc: Exception, attempts: int) -> ConnectionFailed:
    detail = str(exc) or type(exc).__name__
    return ConnectionFailed(None, "connection_error", f"{type(exc).__name__}: {detail}", attempts=attempts)


def retry_delay(policy: RetryPolicy, error: BgRemoveError, attempts: int) -> float | None:
    """Seconds to wait before the next attempt, or None when `error` should be raised now."""
    if not isinstance(error, RetryableError):
        return None
    return policy.delay(attempts, error.retry_after)


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
