"""POST /remove-background/video: a clip in, a WebM out, streamed as frames are encoded.

The route checks readiness (`dependencies.ready_pipeline`) and takes a video admission place before
the upload is read; `service.video.session` does the rest. Frames go through the same engine router
and batchers as photos, behind them (see `service.video.session`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from service import video
from service.dependencies import ready_pipeline, service_state
from service.error_response import error_response
from service.errors import ApiError, ErrorKind
from service.imaging.options import EngineChoice
from service.routes.docs import BgColorQuery, EngineQuery, error_responses, upload_body

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
_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "WebM (VP9; with alpha for output=rgba), streamed. Headers: X-Engine, X-Model, "
        "X-Video-Width, X-Video-Height, X-Video-Frames, X-Audio (copied, dropped and why, or none).",
        "content": {"video/webm": {"schema": {"type": "string", "format": "binary"}}},
    }
}


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
    openapi_extra=upload_body("video", _PARAMS, raw_type="video/*"),
)
async def remove_background_video(
    request: Request,
    output: Annotated[
        str | None, Query(description="rgba (VP9 with alpha) | mask | composite", examples=["rgba"])
    ] = None,
    bg_color: BgColorQuery = None,
    ofd: Annotated[
        str | None, Query(description="one-frame-delay flicker filter (default true)", examples=["true"])
    ] = None,
    engine: EngineQuery = None,
) -> Response:
    del output, bg_color, ofd, engine  # documented here, read below from query + form
    state = service_state(request)
    if not video.available():
        raise ApiError(
            ErrorKind.VIDEO_UNAVAILABLE, "this server was built without video support (the `video` extra)"
        )
    router = ready_pipeline(state).router
    from service.video.session import open_session  # PyAV is only imported once it is known present

    try:
        session = await open_session(state, router, request)  # takes and, on failure, frees the places
    except ApiError as exc:
        state.metrics.video_requests.labels("unknown", "none", str(exc.status)).inc()
        response = error_response(exc, metrics=state.metrics, retry_after_s=state.settings.retry_after_s)
        # The body may not have been read to its end (refused, timed out, too large): what is left of
        # it must not be parsed as the connection's next request.
        response.headers["Connection"] = "close"
        return response
    except BaseException:
        state.metrics.video_requests.labels("unknown", "none", "500").inc()
        raise
    return _ClipResponse(
        cleanup=session.close,
        content=session.body(),
        media_type="video/webm",
        headers=session.headers(),
    )
