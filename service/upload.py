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


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _check_image_type(media_type: str) -> None:
    if not (media_type.startswith("image/") or media_type in _GENERIC_TYPES):
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"expected an image (image/* or multipart/form-data), got content type {media_type!r}",
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
