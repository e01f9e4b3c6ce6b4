"""Getting the image bytes and the parameters out of a request: multipart (field `image`) or a raw
body with an image content type. Parameters come from the query string or form fields."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from service.errors import ApiError, ErrorKind

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Part/body types accepted before sniffing the bytes: clients often send octet-stream for files.
_GENERIC_TYPES = ("application/octet-stream", "")


@dataclass(frozen=True)
class Upload:
    data: bytes
    params: dict[str, str]  # form fields overlaid by query parameters (query wins)


def media_type(value: str | None) -> str:
    """A Content-Type header without its parameters, lower case ("" when absent)."""
    return (value or "").split(";", 1)[0].strip().lower()


def is_form(content_type: str) -> bool:
    return content_type in _FORM_TYPES


def check_media_type(content_type: str, kind: str = "image") -> None:
    """`kind/*` or a generic type passes; anything else is `ApiError(UNSUPPORTED_MEDIA_TYPE)`."""
    if not (content_type.startswith(f"{kind}/") or content_type in _GENERIC_TYPES):
        article = "an" if kind[0] in "aeiou" else "a"
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"expected {article} {kind} ({kind}/* or multipart/form-data), got content type {content_type!r}",
        )


async def read_upload(request: Request, *, field: str = "image") -> Upload:
    try:
        return await _read_upload(request, field)
    except ClientDisconnect:
        # An ApiError, so the route records status 499 like any other client error.
        raise ApiError(
            ErrorKind.CLIENT_CLOSED, "the client closed the connection during the upload"
        ) from None


async def _read_upload(request: Request, field: str) -> Upload:
    content_type = media_type(request.headers.get("content-type"))
    params: dict[str, str] = {}
    if is_form(content_type):
        async with request.form(max_files=4, max_fields=64) as form:
            part = form.get(field)
            params = {k: v for k, v in form.items() if isinstance(v, str)}
            if not isinstance(part, UploadFile):
                raise ApiError(
                    ErrorKind.MISSING_IMAGE, f"multipart field {field!r} with an image file is required"
                )
            check_media_type(media_type(part.content_type))
            data = await part.read()
    else:
        check_media_type(content_type)
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
