"""Getting the image bytes and the parameters out of a request: multipart (field `image`), a raw
body (an image content type, or none/a generic one and image bytes), a urlencoded form or a JSON
object (for the dialects that name a base64 field). Parameters come from the query string or form
fields; the query wins."""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from service.errors import ApiError, ErrorKind
from service.imaging.sniff import sniff_media_type

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


async def read_upload(request: Request, *, field: str = "image", b64_field: str | None = None) -> Upload:
    """`b64_field`: the parameter that may carry the image base64-encoded (remove.bg's
    `image_file_b64`), which also admits JSON bodies."""
    try:
        upload = await _read_upload(request, field, b64_field)
    except ClientDisconnect:
        # An ApiError, so the route records status 499 like any other client error.
        raise ApiError(
            ErrorKind.CLIENT_CLOSED, "the client closed the connection during the upload"
        ) from None
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
