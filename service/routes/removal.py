"""POST /remove-background: the route and its documented parameters; the work is in
`service.removal_handler`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.errors import ErrorKind
from service.imaging.options import EngineChoice, ImageFormat, OutputKind, Refinement
from service.removal_handler import RemovalDialect, handle_removal
from service.routes.docs import (
    IMAGE_RESPONSE,
    BgColorQuery,
    EngineQuery,
    error_responses,
    upload_body,
)

router = APIRouter(tags=["removal"])

_PARAM_DOCS: dict[str, dict[str, Any]] = {
    "output": {"type": "string", "enum": [e.value for e in OutputKind], "default": "rgba"},
    "format": {"type": "string", "enum": [e.value for e in ImageFormat], "default": "png"},
    "bg_color": {"type": "string", "default": "#ffffff", "example": "green"},
    "engine": {"type": "string", "enum": [e.value for e in EngineChoice], "default": "auto"},
    "refine": {"type": "string", "enum": [e.value for e in Refinement], "default": "none"},
    "decontaminate": {"type": "boolean", "default": True},
    "size": {"type": "string", "default": "full", "example": "preview"},
    "crop": {"type": "boolean", "default": False},
    "crop_margin": {"type": "string", "example": "10px 5%"},
    "scale": {"type": "string", "example": "80%"},
    "position": {"type": "string", "example": "center"},
    "roi": {"type": "string", "example": "0% 0% 50% 100%"},
}

_ERRORS = error_responses(
    ErrorKind.INVALID_IMAGE,
    ErrorKind.INVALID_PARAMETER,
    ErrorKind.MISSING_IMAGE,
    ErrorKind.UNAUTHORIZED,
    ErrorKind.PAYLOAD_TOO_LARGE,
    ErrorKind.IMAGE_TOO_LARGE,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE,
    ErrorKind.QUEUE_FULL,
    ErrorKind.NOT_READY,
    ErrorKind.ENGINE_UNAVAILABLE,
    ErrorKind.TIMEOUT,
)


_DIALECT = RemovalDialect(field="image")


@router.post(
    "/remove-background",
    summary="Remove the background of a photo",
    description=(
        "Send the image as multipart field `image`, or as the raw body with an `image/*` content type. "
        "Parameters may be query parameters or form fields (query wins); an unknown one is a 400. The "
        "result has the width and height of the input after EXIF orientation, unless crop, scale or "
        "size change them (remove.bg's framing parameters, applied after the matte)."
    ),
    response_class=Response,
    responses={**IMAGE_RESPONSE, **_ERRORS},
    openapi_extra=upload_body("image", _PARAM_DOCS),
)
async def remove_background_route(
    request: Request,
    output: Annotated[
        str | None,
        Query(description="rgba | mask | composite | zip (color.jpg + alpha.png)", examples=["rgba"]),
    ] = None,
    format: Annotated[
        str | None, Query(description="png | webp | jpeg (jpeg only without alpha)", examples=["png"])
    ] = None,
    bg_color: BgColorQuery = None,
    engine: EngineQuery = None,
    refine: Annotated[
        str | None, Query(description="none | trimap (slower, sharper at high resolution)", examples=["none"])
    ] = None,
    decontaminate: Annotated[
        str | None, Query(description="estimate foreground colour at soft edges (default true)")
    ] = None,
    size: Annotated[
        str | None,
        Query(description="pixel budget of the result: preview|medium|hd|full or a pixel count"),
    ] = None,
    crop: Annotated[str | None, Query(description="crop to the subject's bounding box")] = None,
    crop_margin: Annotated[
        str | None, Query(description="with crop: 1, 2 or 4 lengths in px or %, CSS order")
    ] = None,
    scale: Annotated[
        str | None, Query(description="subject size: 10%..100% of the canvas, or original")
    ] = None,
    position: Annotated[str | None, Query(description="original | center | 'x% y%'")] = None,
    roi: Annotated[str | None, Query(description="region of interest 'x1 y1 x2 y2' in px or %")] = None,
) -> Response:
    # The declared query parameters document the API; values are read below from query + form.
    del output, format, bg_color, engine, refine, decontaminate, size, crop, crop_margin, scale, position, roi
    return await handle_removal(request, _DIALECT)
