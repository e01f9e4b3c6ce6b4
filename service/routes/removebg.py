"""A remove.bg-compatible alias, `POST /v1.0/removebg`, so existing remove.bg SDKs and scripts work
by changing their base URL.

Supported: `image_file` (multipart) or a raw image body, `size` (accepted; results are always full
resolution), `format` (auto|png|jpg|zip), `channels` (rgba|alpha), `bg_color` (hex, with or without
#), `X-Api-Key`. Not supported: `image_url`/`bg_image_url` (the service never fetches URLs: no SSRF
surface) and `image_file_b64`; they get a 400 that says so. Errors use remove.bg's shape:
`{"errors": [{"title": ..., "code": ...}]}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.error_response import ErrorShape
from service.errors import ApiError, ErrorKind
from service.pipeline import RemovalResult
from service.removal_handler import RemovalDialect, handle_removal
from service.routes.docs import IMAGE_RESPONSE, upload_body

router = APIRouter(tags=["remove.bg compatibility"])

_SIZES = {"auto", "preview", "small", "regular", "medium", "hd", "full", "4k", "50mp"}
_UNSUPPORTED = ("image_url", "bg_image_url", "image_file_b64", "bg_image_file")


def translate_removebg(params: dict[str, str]) -> dict[str, str]:
    for name in _UNSUPPORTED:
        if params.get(name):
            raise ApiError(ErrorKind.INVALID_PARAMETER, f"{name} is not supported here: upload image_file")
    size = params.get("size", "auto").lower()
    if size not in _SIZES:
        raise ApiError(ErrorKind.INVALID_PARAMETER, f"size must be one of {sorted(_SIZES)}, got {size!r}")
    fmt = params.get("format", "auto").lower()
    channels = params.get("channels", "rgba").lower()
    if channels not in ("rgba", "alpha"):
        raise ApiError(ErrorKind.INVALID_PARAMETER, f"channels must be rgba or alpha, got {channels!r}")
    bg_color = params.get("bg_color", "")
    ours: dict[str, str] = {}
    if fmt == "zip":
        ours["output"] = "zip"
    elif channels == "alpha":
        ours["output"], ours["format"] = "mask", "jpeg" if fmt in ("jpg", "jpeg") else "png"
    elif bg_color or fmt in ("jpg", "jpeg"):
        # remove.bg: a JPEG (or any result with a background colour) has no transparency.
        ours["output"] = "composite"
        ours["format"] = "png" if fmt == "png" else "jpeg"
        ours["bg_color"] = bg_color or "ffffff"
    elif fmt in ("auto", "png"):
        ours["output"], ours["format"] = "rgba", "png"
    else:
        raise ApiError(ErrorKind.INVALID_PARAMETER, f"format must be auto, png, jpg or zip, got {fmt!r}")
    return ours


def removebg_headers(result: RemovalResult) -> dict[str, str]:
    # remove.bg reports the result size in these headers.
    return {"X-Width": str(result.width), "X-Height": str(result.height), "X-Type": "person"}


_DIALECT = RemovalDialect(
    field="image_file",
    translate=translate_removebg,
    error_shape=ErrorShape.REMOVEBG,
    extra_headers=removebg_headers,
)


@router.post(
    "/v1.0/removebg",
    summary="remove.bg-compatible endpoint",
    response_class=Response,
    responses={**IMAGE_RESPONSE, 400: {"description": "remove.bg error shape: {errors: [{title, code}]}"}},
    openapi_extra=upload_body(
        "image_file",
        {
            "size": {"type": "string", "default": "auto"},
            "format": {"type": "string", "enum": ["auto", "png", "jpg", "zip"], "default": "auto"},
            "channels": {"type": "string", "enum": ["rgba", "alpha"], "default": "rgba"},
            "bg_color": {"type": "string", "example": "81d4fa"},
        },
    ),
)
async def removebg(request: Request) -> Response:
    return await handle_removal(request, _DIALECT)
