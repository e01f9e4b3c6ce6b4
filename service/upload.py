"""Getting the image bytes and the parameters out of a request: multipart (field `image`), a raw
body (an image content type, or none/a generic one and image bytes), a urlencoded form or a JSON
object (for the dialects that name a base64 field). Parameters come from the query string or form
fields; the query wins.

The read is timed (`UploadClock`): the whole body within `total_s`, no pause between chunks longer
than `idle_s`, and a read still going after `slow_after_s` needs a slow-upload place (admission's
`UploadPlace.allow_slow`). Each ends the request with 408 `upload_timeout`: an over-stated
Content-Length or a never-ending chunked body cannot hold the request (or its upload place) for
longer than the clock allows.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import io
import json
import time
from base64 import b64decode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

from service.admission import UploadPlace
from service.config import Settings
from service.errors import ApiError, ErrorKind
from service.imaging.heif_header import heif_declared_size
from service.imaging.sniff import ALLOWED_MEDIA_TYPES, SNIFF_BYTES, sniff_media_type, webp_canvas_size

_MULTIPART = "multipart/form-data"
_URLENCODED = "application/x-www-form-urlencoded"
_JSON = "application/json"
_FORM_TYPES = (_MULTIPART, _URLENCODED)
# Part/body types accepted before sniffing the bytes: clients often send octet-stream for files.
_GENERIC_TYPES = ("application/octet-stream", "")
_MAX_FIELDS = 64
# A base64 image is a text field: let it be as large as the body limit (enforced while streaming)
# allows, instead of python-multipart's 1 MiB default for fields.
_MAX_FIELD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    data: bytes
    params: dict[str, str]  # form fields overlaid by query parameters (query wins)
    files: tuple[str, ...] = ()  # names of the form's file fields other than the image
    missing: str | None = None
    """No image was sent: what to send instead. The caller raises MISSING_IMAGE after validating the
    parameters, so a refused parameter (remove.bg's image_url) is named even when it came alone."""


def media_type(value: str | None) -> str:
    """A Content-Type header without its parameters, lower case ("" when absent)."""
    return (value or "").split(";", 1)[0].strip().lower()


def is_form(content_type: str) -> bool:
    return content_type in _FORM_TYPES


def _how_to_send(field: str) -> str:
    return f"send the image as multipart field {field!r} or as the body with an image/* content type"


def check_media_type(content_type: str, kind: str = "image") -> None:
    """`kind/*` or a generic type passes; anything else is `ApiError(UNSUPPORTED_MEDIA_TYPE)`."""
    if not (content_type.startswith(f"{kind}/") or content_type in _GENERIC_TYPES):
        article = "an" if kind[0] in "aeiou" else "a"
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"expected {article} {kind} ({kind}/* or multipart/form-data), got content type {content_type!r}",
        )


@dataclass(frozen=True)
class UploadClock:
    total_s: float = 30.0
    idle_s: float = 10.0
    slow_after_s: float = 2.0
    allow_slow: Callable[[], bool] = lambda: True  # False: no slow-upload place is free


def upload_clock(settings: Settings, place: UploadPlace, *, total_s: float | None = None) -> UploadClock:
    """The configured limits for one body read holding `place` (`total_s`: another whole-read limit)."""
    return UploadClock(
        total_s=settings.upload_timeout_s if total_s is None else total_s,
        idle_s=settings.upload_idle_timeout_s,
        slow_after_s=settings.slow_upload_after_s,
        allow_slow=place.allow_slow,
    )


# A body refused before it was read is read and dropped up to this size, so the refusal reaches the
# client: answering and closing with the body still arriving makes the kernel reset the connection,
# and the client sees a broken connection instead of the 429 (measured: 100 of 973 requests at 3x
# capacity, `python -m bench.attack`). Larger bodies are not worth reading: those connections close.
DRAIN_LIMIT_BYTES = 4 * 1024 * 1024


async def drain(request: Request, clock: UploadClock, limit_bytes: int = DRAIN_LIMIT_BYTES) -> bool:
    """Reads and drops a refused request's body; True when it was read to its end (the connection
    may then stay open), False when it is larger than `limit_bytes`, too slow or the client left."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit_bytes):
        return False
    receive = timed_receive(request.receive, clock)
    seen = 0
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return False
            seen += len(message.get("body", b""))
            if seen > limit_bytes:
                return False
            if not message.get("more_body", False):
                return True
    except (ApiError, ClientDisconnect):
        return False


@contextlib.contextmanager
def body_reading(request: Request, clock: UploadClock | None) -> Iterator[Request]:
    """`request` with its body read under `clock` (when given), for the `with` block; a client that
    hangs up meanwhile becomes `ApiError(CLIENT_CLOSED)`, so the route records a 499 like any other
    client error (photos and videos alike)."""
    try:
        yield request if clock is None else Request(request.scope, timed_receive(request.receive, clock))
    except ClientDisconnect:
        raise ApiError(
            ErrorKind.CLIENT_CLOSED, "the client closed the connection during the upload"
        ) from None


def timed_receive(receive: Receive, clock: UploadClock) -> Receive:
    """`receive` under the clock's limits: `ApiError(UPLOAD_TIMEOUT)` when the body runs late."""
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
    sniffed = sniff_media_type(data[:SNIFF_BYTES])
    plugin = ALLOWED_MEDIA_TYPES.get(sniffed or "")
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


async def read_upload(
    request: Request, *, field: str = "image", b64_field: str | None = None, clock: UploadClock | None = None
) -> Upload:
    """`b64_field`: the parameter that may carry the image base64-encoded (remove.bg's
    `image_file_b64`), which also admits JSON bodies. `clock`: the read's time limits."""
    try:
        with body_reading(request, clock) as timed:
            upload = await _read_upload(timed, field, b64_field)
    except HTTPException as exc:  # Starlette's form parser: "Too many fields", a broken boundary
        raise ApiError(ErrorKind.INVALID_PARAMETER, f"unreadable form: {exc.detail}") from None
    if upload.missing is None and not upload.data:
        raise ApiError(ErrorKind.INVALID_IMAGE, "the uploaded image is empty (0 bytes)")
    return upload


async def _read_upload(request: Request, field: str, b64_field: str | None) -> Upload:
    content_type = media_type(request.headers.get("content-type"))
    query = dict(request.query_params)
    if content_type == _MULTIPART:
        async with request.form(max_files=4, max_fields=_MAX_FIELDS, max_part_size=_MAX_FIELD_BYTES) as form:
            params = {k: v for k, v in form.items() if isinstance(v, str)}
            files = tuple(k for k, v in form.items() if isinstance(v, UploadFile) and k != field)
            part = form.get(field)
            if isinstance(part, UploadFile):
                check_media_type(media_type(part.content_type))
                return Upload(await part.read(), {**params, **query}, files)
        return _from_base64({**params, **query}, field, b64_field, files)
    if content_type == _JSON and b64_field is not None:
        return _from_base64({**_json_params(await request.body()), **query}, field, b64_field)
    body = await request.body()
    if content_type == _URLENCODED or content_type in _GENERIC_TYPES:
        # `curl --data-binary @photo.jpg URL` labels the photo a urlencoded form: the bytes decide.
        if sniff_media_type(body[:64]) is not None:
            return Upload(body, query)
        if content_type == _URLENCODED:
            if not _looks_like_text(body):
                raise ApiError(
                    ErrorKind.MISSING_IMAGE,
                    f"the body is labelled a form but is neither a form nor an image of a known format: "
                    f"{_how_to_send(field)}",
                )
            return _from_base64({**_form_params(body), **query}, field, b64_field)
        if not body and not content_type:
            return Upload(b"", query, missing=_how_to_send(field))
    check_media_type(content_type)
    return Upload(body, query)


def _from_base64(
    params: dict[str, str], field: str, b64_field: str | None, files: tuple[str, ...] = ()
) -> Upload:
    encoded = params.pop(b64_field, "") if b64_field else ""
    if not encoded:
        also = f", or base64 in {b64_field!r}" if b64_field else ""
        return Upload(b"", params, files, missing=f"{_how_to_send(field)}{also}")
    if encoded.startswith("data:") and "," in encoded:  # a data: URL, as browsers make them
        encoded = encoded.split(",", 1)[1]
    try:
        data = b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raise ApiError(ErrorKind.INVALID_IMAGE, f"{b64_field} is not valid base64") from None
    return Upload(data, params, files)


def _looks_like_text(body: bytes) -> bool:
    """A urlencoded form is printable ASCII (line breaks allowed); binary means a mislabelled file."""
    return body.isascii() and not any(byte < 0x20 and byte not in b"\t\r\n" for byte in body[:4096])


def _form_params(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        raise ApiError(
            ErrorKind.INVALID_PARAMETER,
            f"a form with more than {_MAX_FIELDS} fields; to send a photo as the body, "
            "give it an image/* content type (curl: -H 'content-type: image/jpeg')",
        ) from None
    return dict(pairs)


def _json_params(body: bytes) -> dict[str, str]:
    try:
        decoded = json.loads(body)
    except ValueError:
        raise ApiError(ErrorKind.INVALID_PARAMETER, "the body is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise ApiError(ErrorKind.INVALID_PARAMETER, "the JSON body must be an object of parameters")
    # JSON true/false/numbers become the strings a form would carry.
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items() if v is not None}
