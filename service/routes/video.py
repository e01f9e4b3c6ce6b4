"""POST /remove-background/video: a clip in, a WebM out, streamed as frames are encoded.

The engine is reached through `matte_through_batcher`, the one place that ties video to the photo
path: each frame is submitted to the same dynamic batcher as photos.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from service import video
from service.batcher import BatcherClosedError, QueueFullError
from service.engines.base import Alpha, RGBImage
from service.errors import ApiError, ErrorKind
from service.imaging.options import EngineChoice
from service.routes.docs import error_responses
from service.state import ServiceState

log = logging.getLogger(__name__)

router = APIRouter(tags=["video"])
PATH = "/remove-background/video"

_OUTPUTS = ("rgba", "mask", "composite")
_PARAMS: dict[str, dict[str, Any]] = {
    "output": {"type": "string", "enum": list(_OUTPUTS), "default": "rgba"},
    "bg_color": {"type": "string", "default": "#ffffff", "example": "#00ff00"},
    "ofd": {"type": "boolean", "default": True},
    "engine": {"type": "string", "enum": [e.value for e in EngineChoice], "default": "auto"},
}
_ERRORS = error_responses(
    ErrorKind.INVALID_VIDEO,
    ErrorKind.INVALID_PARAMETER,
    ErrorKind.MISSING_VIDEO,
    ErrorKind.UNAUTHORIZED,
    ErrorKind.PAYLOAD_TOO_LARGE,
    ErrorKind.VIDEO_TOO_LARGE,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE,
    ErrorKind.QUEUE_FULL,
    ErrorKind.NOT_READY,
    ErrorKind.ENGINE_UNAVAILABLE,
    ErrorKind.VIDEO_UNAVAILABLE,
)
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["video"],
                    "properties": {"video": {"type": "string", "format": "binary"}, **_PARAMS},
                }
            },
            "video/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "WebM (VP9; with alpha for output=rgba), streamed. Headers: X-Engine, X-Model, "
        "X-Video-Width, X-Video-Height, X-Video-Frames, X-Audio (copied, dropped and why, or none).",
        "content": {"video/webm": {"schema": {"type": "string", "format": "binary"}}},
    }
}

MatteFrame = Callable[[RGBImage], Awaitable[Alpha]]


def matte_through_batcher(state: ServiceState, engine: str) -> MatteFrame:
    """One frame -> its alpha, through the engine's dynamic batcher (shared with photos). A full
    queue makes the clip wait its turn instead of failing: photos get the queue first."""
    batcher = state.batchers[engine]
    timeout_s = state.settings.request_timeout_s

    async def matte(rgb: RGBImage) -> Alpha:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                future = batcher.submit(rgb)
                break
            except QueueFullError:
                if time.monotonic() > deadline:
                    raise ApiError(ErrorKind.TIMEOUT, "the engine queue stayed full") from None
                await asyncio.sleep(0.05)
            except BatcherClosedError:
                raise ApiError(ErrorKind.NOT_READY, "server is shutting down") from None
        try:
            return await asyncio.wait_for(future, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise ApiError(ErrorKind.TIMEOUT, "a frame missed the request deadline") from None

    return matte


def _admit(state: ServiceState) -> None:
    if not video.available():
        raise ApiError(
            ErrorKind.VIDEO_UNAVAILABLE, "this server was built without video support (the `video` extra)"
        )
    if not state.is_ready:
        why = "shutting down" if state.draining else (state.load_error or "loading the model")
        raise ApiError(ErrorKind.NOT_READY, f"not ready: {why}")
    if state.videos_in_flight >= state.settings.video_max_concurrent:
        state.metrics.rejected.labels("videos_busy").inc()
        raise ApiError(
            ErrorKind.QUEUE_FULL,
            f"server busy: {state.videos_in_flight} videos in progress; retry after the Retry-After delay",
        )
    state.videos_in_flight += 1


class _ClipResponse(StreamingResponse):
    """Runs `cleanup` however the response ends: finished, client gone, or never started."""

    def __init__(self, cleanup: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()


@router.post(
    PATH,
    summary="Remove the background of a video",
    description=(
        "Send the clip (MP4, MOV, WebM or MKV) as multipart field `video`, or as the raw body with a "
        "`video/*` content type. The result is a WebM (VP9) with the input's width, height, frame count "
        "and timestamps, streamed as it is encoded. Limits on size, duration, frames and pixels per "
        "frame are checked from the container before decoding."
    ),
    response_class=Response,
    responses={**_RESPONSE, **_ERRORS},
    openapi_extra=_BODY,
)
async def remove_background_video(
    request: Request,
    output: Annotated[
        str | None, Query(description="rgba (VP9 with alpha) | mask | composite", examples=["rgba"])
    ] = None,
    bg_color: Annotated[
        str | None, Query(description="hex colour for composite", examples=["#00ff00"])
    ] = None,
    ofd: Annotated[
        str | None, Query(description="one-frame-delay flicker filter (default true)", examples=["true"])
    ] = None,
    engine: Annotated[str | None, Query(description="auto | modnet | grabcut", examples=["auto"])] = None,
) -> Response:
    del output, bg_color, ofd, engine  # documented here, read below from query + form
    state: ServiceState = request.app.state.service
    _admit(state)
    from service.video.session import open_session  # PyAV is only imported once it is known present

    try:
        session = await open_session(state, request)
    except BaseException as exc:
        state.videos_in_flight -= 1
        status = str(exc.status) if isinstance(exc, ApiError) else "500"
        state.metrics.video_requests.labels("unknown", "none", status).inc()
        raise
    return _ClipResponse(
        cleanup=session.close,
        content=session.body(matte_through_batcher(state, session.engine)),
        media_type="video/webm",
        headers=session.headers(),
    )
