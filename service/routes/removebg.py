"""A remove.bg-compatible alias, `POST /v1.0/removebg`, so existing remove.bg SDKs and scripts work
by changing their base URL. Its parameters follow remove.bg's API reference; the README lists each
as supported, accepted and ignored (with the reason), or refused.

Refused: `image_url` and `bg_image_url` (the service never fetches URLs: no SSRF surface), and
`bg_image_file`. Errors use remove.bg's shape `{"errors": [{"title": ..., "code": ...}]}`. With
`Accept: application/json` the answer is remove.bg's JSON: the result base64-encoded plus the
subject's box.
"""

from __future__ import annotations

from base64 import b64encode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from service.contract import EngineName
from service.error_response import ErrorShape
from service.errors import ApiError, ErrorKind, shown
from service.imaging.options import check_known, parse_bool, parse_hex_color
from service.pipeline import RemovalResult
from service.removal_handler import RemovalDialect, handle_removal
from service.routes.docs import IMAGE_RESPONSE, upload_body

PATH = "/v1.0/removebg"
router = APIRouter(tags=["remove.bg compatibility"])

# remove.bg's names; its `size` default is "preview" (0.25 MP), and so is ours on this endpoint.
_SIZES = ("preview", "small", "regular", "medium", "hd", "full", "4k", "50mp", "auto")
_TYPES = ("auto", "person", "product", "car", "animal", "graphic", "graphics", "transportation", "other")
_TYPE_LEVELS = ("none", "1", "2", "latest")
_FORMATS = ("auto", "png", "jpg", "jpeg", "webp", "zip")
_FRAMING = ("roi", "crop", "crop_margin", "scale", "position")
_IGNORED = ("add_shadow", "semitransparency", "shadow_type", "shadow_opacity", "shadow_method")
_REFUSED = {
    "image_url": "image_url is not supported: the service never fetches URLs; "
    "upload the image as image_file or image_file_b64",
    "bg_image_url": "bg_image_url is not supported: the service never fetches URLs; use bg_color",
    "bg_image_file": "bg_image_file is not supported: use bg_color, or composite the cut-out yourself",
}
PARAMETERS = (
    *("image_file", "image_file_b64", "size", "type", "type_level", "format", "channels", "bg_color"),
    *_FRAMING,
    *_IGNORED,
    *_REFUSED,
)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    lowered = value.strip().lower()
    if lowered not in allowed:
        raise ApiError(
            ErrorKind.INVALID_PARAMETER, f"{name} must be one of {', '.join(allowed)}; got {shown(value)}"
        )
    return lowered


def translate_removebg(params: dict[str, str], files: tuple[str, ...]) -> dict[str, str]:
    """remove.bg's parameters -> ours (validated here or by `parse_options` after)."""
    check_known({**params, **dict.fromkeys(files, "")}, PARAMETERS)
    for name, message in _REFUSED.items():
        if name in params or name in files:
            raise ApiError(ErrorKind.INVALID_PARAMETER, message)
    if "image_file_b64" in params:  # the upload took image_file; a second source is ambiguous
        raise ApiError(ErrorKind.INVALID_PARAMETER, "give one of image_file and image_file_b64, not both")
    _one_of("type", params.get("type", "auto"), _TYPES)  # accepted: the model decides, see X-Type
    _one_of("type_level", params.get("type_level", "1"), _TYPE_LEVELS)
    for name in ("add_shadow", "semitransparency"):  # accepted and ignored (README: why)
        parse_bool(name, params.get(name, "false"))
    fmt = _one_of("format", params.get("format", "auto"), _FORMATS)
    channels = _one_of("channels", params.get("channels", "rgba"), ("rgba", "alpha"))
    ours = {name: params[name] for name in _FRAMING if name in params}
    ours["size"] = _one_of("size", params.get("size", "preview"), _SIZES)
    bg_color = params.get("bg_color", "").strip()
    if fmt == "zip":
        ours["output"] = "zip"
    elif channels == "alpha":
        ours["output"], ours["format"] = "mask", _our_format(fmt, opaque="png")
    elif bg_color or fmt in ("jpg", "jpeg"):
        # remove.bg: a result with a background colour has no transparency, so "auto" means JPEG.
        parse_hex_color(bg_color or "ffffff")
        ours["output"], ours["format"] = "composite", _our_format(fmt, opaque="jpeg")
        ours["bg_color"] = bg_color or "ffffff"
    else:
        ours["output"], ours["format"] = "rgba", _our_format(fmt, opaque="png")
    return ours


def _our_format(fmt: str, *, opaque: str) -> str:
    return {"png": "png", "webp": "webp", "jpg": "jpeg", "jpeg": "jpeg"}.get(fmt, opaque)


def removebg_headers(result: RemovalResult) -> dict[str, str]:
    # X-Type: "person" only when the people model (MODNet, trained on portraits) made the matte;
    # GrabCut does not know what it cut out.
    kind = "person" if result.engine is EngineName.MODNET else "other"
    top, left, width, height = _foreground(result)
    return {
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Type": kind,
        "X-Foreground-Top": str(top),
        "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(width),
        "X-Foreground-Height": str(height),
    }


def _foreground(result: RemovalResult) -> tuple[int, int, int, int]:
    box = result.subject
    return (0, 0, 0, 0) if box is None else (box.top, box.left, box.width, box.height)


def respond(request: Request, result: RemovalResult, headers: dict[str, str]) -> Response:
    if "application/json" not in request.headers.get("accept", "").lower():
        return Response(result.rendered.content, media_type=result.rendered.media_type, headers=headers)
    top, left, width, height = _foreground(result)
    data = {
        "result_b64": b64encode(result.rendered.content).decode("ascii"),
        "foreground_top": top,
        "foreground_left": left,
        "foreground_width": width,
        "foreground_height": height,
    }
    headers.pop("Content-Disposition", None)
    return JSONResponse({"data": data}, headers=headers)


_DIALECT = RemovalDialect(
    field="image_file",
    b64_field="image_file_b64",
    translate=translate_removebg,
    error_shape=ErrorShape.REMOVEBG,
    extra_headers=removebg_headers,
    respond=respond,
)

_DOCS = {
    "image_file_b64": {"type": "string", "description": "the image, base64-encoded (or in a JSON body)"},
    "size": {"type": "string", "enum": list(_SIZES), "default": "preview"},
    "type": {"type": "string", "enum": list(_TYPES), "default": "auto"},
    "format": {"type": "string", "enum": ["auto", "png", "jpg", "webp", "zip"], "default": "auto"},
    "channels": {"type": "string", "enum": ["rgba", "alpha"], "default": "rgba"},
    "bg_color": {"type": "string", "example": "81d4fa"},
    "crop": {"type": "boolean", "default": False},
    "crop_margin": {"type": "string", "example": "10px 5%"},
    "scale": {"type": "string", "example": "80%"},
    "position": {"type": "string", "example": "center"},
    "roi": {"type": "string", "example": "0% 0% 100% 100%"},
}


@router.post(
    PATH,
    summary="remove.bg-compatible endpoint",
    description="Send `Accept: application/json` for remove.bg's JSON answer (`data.result_b64` and "
    "the subject's box) instead of the image.",
    response_class=Response,
    responses={**IMAGE_RESPONSE, 400: {"description": "remove.bg error shape: {errors: [{title, code}]}"}},
    openapi_extra=upload_body("image_file", _DOCS),
)
async def removebg(request: Request) -> Response:
    return await handle_removal(request, _DIALECT)
