"""Getting the image bytes and the parameters out of a request: multipart (field `image`) or a raw
body with an image content type. Parameters come from the query string or form fields.

The read is timed (`UploadClock`): the whole body within `total_s`, no pause between chunks longer
than `idle_s`, and a read still going after `slow_after_s` needs a slow-upload place (admission's
`UploadPlace.allow_slow`). Each ends the request with 408 `upload_timeout`: an over-stated
Content-Length or a never-ending chunked body cannot hold the request (or its upload place) for
longer than the clock allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from service.errors import ApiError, ErrorKind
from service.imaging.heif_header import heif_declared_size
from service.imaging.sniff import ALLOWED_MEDIA_TYPES, SNIFF_BYTES, sniff_media_type, webp_canvas_size

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Part/body types accepted before sniffing the bytes: clients often send octet-stream for files.
_GENERIC_TYPES = ("application/octet-stream", "")


@dataclass(frozen=True)
class Upload:
    data: bytes
    params: dict[str, str]  # form fields overlaid by query parameters (query wins)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _check_image_type(media_type: str) -> None:
    if not (media_type.startswith("image/") or media_type in _GENERIC_TYPES):
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"expected an image (image/* or multipart/form-data), got content type {media_type!r}",
        )


@dataclass(frozen=True)
class UploadClock:
    total_s: float = 30.0
    idle_s: float = 10.0
    slow_after_s: float = 2.0
    allow_slow: Callable[[], bool] = lambda: True  # False: no slow-upload place is free


def _timed(receive: Receive, clock: UploadClock) -> Receive:
    started = time.monotonic()
    slow = False

    async def timed_receive() -> Message:  # one call: one wait for the next chunk
        nonlocal slow
        called = time.monotonic()
        while True:
            now = time.monotonic()
            elapsed = now - started
            if not slow and elapsed >= clock.slow_after_s:
                if not clock.allow_slow():
                    raise _timeout(f"the upload is slow (over {clock.slow_after_s:g} s) and the server "
                                   "has no room for more slow uploads now")  # fmt: skip
                slow = True
            if elapsed >= clock.total_s:
                raise _timeout(f"the upload took longer than {clock.total_s:g} s")
            idle_left = clock.idle_s - (now - called)
            if idle_left <= 0:
                raise _timeout(f"no upload data for {clock.idle_s:g} s")
            wait = min(idle_left, clock.total_s - elapsed)
            if not slow:
                wait = min(wait, clock.slow_after_s - elapsed)
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(receive(), wait)

    return timed_receive


def _timeout(message: str) -> ApiError:
    return ApiError(ErrorKind.UPLOAD_TIMEOUT, f"{message}; the request was not read to its end")


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header (no pixel decoded), or None when the header does not
    say: decoding then refuses the image anyway. Used to reserve the request's working memory."""
    media_type = sniff_media_type(data[:SNIFF_BYTES])
    plugin = ALLOWED_MEDIA_TYPES.get(media_type or "")
    if plugin is None:
        return None
    if plugin == "WEBP":
        return webp_canvas_size(data[:30])
    if plugin in ("HEIF", "AVIF"):
        return heif_declared_size(data)
    try:  # Image.open parses the header only
        with Image.open(io.BytesIO(data), formats=[plugin]) as im:
            return im.size
    except Exception:
        return None


async def read_upload(request: Request, *, field: str = "image", clock: UploadClock | None = None) -> Upload:
    if clock is not None:
        request = Request(request.scope, _timed(request.receive, clock))
    try:
        return await _read_upload(request, field)
    except ClientDisconnect:
        # An ApiError, so the route records status 499 like any other client error.
        raise ApiError(
            ErrorKind.CLIENT_CLOSED, "the client closed the connection during the upload"
        ) from None


async def _read_upload(request: Request, field: str) -> Upload:
    content_type = _media_type(request.headers.get("content-type"))
    params: dict[str, str] = {}
    if content_type in _FORM_TYPES:
        async with request.form(max_files=4, max_fields=64) as form:
            part = form.get(field)
            params = {k: v for k, v in form.items() if isinstance(v, str)}
            if not isinstance(part, UploadFile):
                raise ApiError(
                    ErrorKind.MISSING_IMAGE, f"multipart field {field!r} with an image file is required"
                )
            _check_image_type(_media_type(part.content_type))
            data = await part.read()
    else:
        _check_image_type(content_type)
        data = await request.body()
        if not data and not content_type:
            raise ApiError(
                ErrorKind.MISSING_IMAGE,
                f"send the image as multipart field {field!r} or as the body with an image/* content type",
            )
    if not data:
        raise ApiError(ErrorKind.INVALID_IMAGE, "the uploaded image is empty (0 bytes)")
    params.update(request.query_params)
    return Upload(data=data, params=params)
