"""POST /remove-background."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.errors import ApiError, ErrorKind
from service.imaging.options import (
    EngineChoice,
    ImageFormat,
    OutputKind,
    OutputOptions,
    Refinement,
    parse_enum,
    parse_hex_color,
)
from service.pipeline import RemovalResult, remove_background
from service.routes.docs import IMAGE_RESPONSE, error_responses, upload_body
from service.state import ServiceState
from service.upload import read_upload

router = APIRouter(tags=["removal"])

T = TypeVar("T")

_PARAM_DOCS: dict[str, dict[str, Any]] = {
    "output": {"type": "string", "enum": [e.value for e in OutputKind], "default": "rgba"},
    "format": {"type": "string", "enum": [e.value for e in ImageFormat], "default": "png"},
    "bg_color": {"type": "string", "default": "#ffffff", "example": "#00ff00"},
    "engine": {"type": "string", "enum": [e.value for e in EngineChoice], "default": "auto"},
    "refine": {"type": "string", "enum": [e.value for e in Refinement], "default": "none"},
    "decontaminate": {"type": "boolean", "default": True},
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


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ApiError(ErrorKind.INVALID_PARAMETER, f"{name} must be true or false, got {value!r}")


def parse_options(params: dict[str, str]) -> tuple[EngineChoice, OutputOptions]:
    """Validate every parameter before any work is queued: a batch only ever holds good work."""
    engine = parse_enum(EngineChoice, "engine", params.get("engine", "auto"))
    options = OutputOptions(
        output=parse_enum(OutputKind, "output", params.get("output", "rgba")),
        format=parse_enum(ImageFormat, "format", params.get("format", "png")),
        bg_color=parse_hex_color(params.get("bg_color", "#ffffff")),
        decontaminate=parse_bool("decontaminate", params.get("decontaminate", "true")),
        refine=parse_enum(Refinement, "refine", params.get("refine", "none")),
    )
    return engine, options


def result_headers(result: RemovalResult, started: float) -> dict[str, str]:
    headers = {
        "X-Engine": result.engine,
        "X-Model": result.model_id,
        "X-Processing-Time-Ms": f"{(time.perf_counter() - started) * 1000:.1f}",
        "X-Image-Width": str(result.width),
        "X-Image-Height": str(result.height),
    }
    if result.fallback_reason:
        headers["X-Fallback-Reason"] = result.fallback_reason
    if result.rendered.media_type == "application/zip":
        headers["Content-Disposition"] = 'attachment; filename="result.zip"'
    return headers


async def until_disconnect(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    """Run `work`, cancelling it if the client disconnects first (so its queued item is dropped
    before inference). Returns None when the client left."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        # The body is fully read by now, so the next ASGI message can only be the disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            return None  # the client is gone; nobody reads a response
        raise
    finally:
        watcher.cancel()


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def require_ready(state: ServiceState) -> None:
    if not state.is_ready:
        why = "shutting down" if state.draining else (state.load_error or "loading the model")
        raise ApiError(ErrorKind.NOT_READY, f"not ready: {why}")


@router.post(
    "/remove-background",
    summary="Remove the background of a photo",
    description=(
        "Send the image as multipart field `image`, or as the raw body with an `image/*` content type. "
        "Parameters may be query parameters or form fields (query wins). The result has exactly the "
        "width and height of the input after EXIF orientation."
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
    bg_color: Annotated[
        str | None, Query(description="hex colour for composite", examples=["#00ff00"])
    ] = None,
    engine: Annotated[str | None, Query(description="auto | modnet | grabcut", examples=["auto"])] = None,
    refine: Annotated[
        str | None, Query(description="none | trimap (slower, sharper at high resolution)", examples=["none"])
    ] = None,
    decontaminate: Annotated[
        str | None, Query(description="estimate foreground colour at soft edges (default true)")
    ] = None,
) -> Response:
    # The declared query parameters document the API; values are read below from query + form.
    del output, format, bg_color, engine, refine, decontaminate
    return await handle_removal(request, field="image")


def admit(state: ServiceState) -> None:
    """Bound the requests in the whole pipeline, not only in the engine queue: when decoding or
    encoding is the bottleneck (RGBA on a small CPU box) the engine queue stays short while work
    piles up in the CPU pool. Refusing before the upload is read makes overload answers cheap."""
    if state.in_flight >= state.settings.max_in_flight:
        state.metrics.rejected.labels("overloaded").inc()
        raise ApiError(
            ErrorKind.QUEUE_FULL,
            f"server busy: {state.in_flight} requests in progress; retry after the Retry-After delay",
        )
    state.in_flight += 1
    state.metrics.in_flight.set(state.in_flight)


ParamTranslator = Callable[[dict[str, str]], dict[str, str]]


async def handle_removal(
    request: Request, *, field: str, translate: ParamTranslator | None = None
) -> Response:
    """Shared by /remove-background and the remove.bg-compatible alias, which differs in its field
    name and parameter vocabulary (`translate` maps its parameters onto ours)."""
    state = service_state(request)
    metrics = state.metrics
    started = time.perf_counter()
    output, engine_used, status = "unknown", "none", 500
    admitted = False
    try:
        require_ready(state)
        admit(state)
        admitted = True
        upload = await read_upload(request, field=field)
        params = translate(upload.params) if translate else upload.params
        choice, options = parse_options(params)
        output = options.output.value
        result = await until_disconnect(request, remove_background(state, upload.data, choice, options))
        if result is None:
            metrics.dropped.labels("any", "client_disconnected").inc()
            status = 499  # nginx's "client closed request": nobody reads this response
            return Response(status_code=status)
        engine_used, status = result.engine, 200
        return Response(
            content=result.rendered.content,
            media_type=result.rendered.media_type,
            headers=result_headers(result, started),
        )
    except ApiError as exc:
        status = exc.status
        raise
    finally:
        if admitted:
            state.in_flight -= 1
            metrics.in_flight.set(state.in_flight)
        metrics.requests.labels(output, engine_used, str(status)).inc()
        metrics.request_duration.labels(output).observe(time.perf_counter() - started)
