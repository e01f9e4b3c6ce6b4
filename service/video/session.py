"""One video request between the route and `ClipJob`: parameters, probe against the limits, the
engine choice, the response headers, the metrics, and releasing everything however it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial

from starlette.requests import Request

from service.errors import ApiError, ErrorKind
from service.imaging.options import EngineChoice, parse_enum, parse_hex_color
from service.metrics import Metrics
from service.state import ServiceState
from service.video.clip import ClipJob, ClipOptions, MatteFrame
from service.video.probe import ClipLimits, probe_clip
from service.video.reader import ClipReadError
from service.video.render import VideoOutput
from service.video.upload import VideoUpload, read_video_upload

log = logging.getLogger(__name__)


def parse_clip_options(params: dict[str, str]) -> tuple[EngineChoice, ClipOptions]:
    engine = parse_enum(EngineChoice, "engine", params.get("engine", "auto"))
    ofd = params.get("ofd", "true").strip().lower()
    if ofd not in ("true", "false", "1", "0"):
        raise ApiError(ErrorKind.INVALID_PARAMETER, f"ofd must be true or false, got {ofd!r}")
    options = ClipOptions(
        output=parse_enum(VideoOutput, "output", params.get("output", "rgba")),
        bg_color=parse_hex_color(params.get("bg_color", "#ffffff")),
        ofd=ofd in ("true", "1"),
    )
    return engine, options


def engine_for(state: ServiceState, choice: EngineChoice) -> str:
    if choice is EngineChoice.GRABCUT:
        return "grabcut"
    if "modnet" in state.batchers:
        return "modnet"
    if choice is EngineChoice.MODNET:
        reason = state.engines.modnet_error if state.engines else "not loaded"
        raise ApiError(ErrorKind.ENGINE_UNAVAILABLE, f"engine=modnet is not available here ({reason})")
    return "grabcut"


class VideoSession:
    def __init__(self, state: ServiceState, upload: VideoUpload, job: ClipJob, engine: str) -> None:
        self.state = state
        self.upload = upload
        self.job = job
        self.engine = engine
        self.status = "499"  # until the last chunk is out, the client may still leave

    def headers(self) -> dict[str, str]:
        info = self.job.info
        return {
            "X-Engine": self.engine,
            "X-Model": self.state.batchers[self.engine].engine.model_id,
            "X-Video-Width": str(info.width),
            "X-Video-Height": str(info.height),
            "X-Video-Frames": str(info.frames),
            "X-Audio": info.audio_note,
            "Content-Disposition": 'inline; filename="result.webm"',
        }

    async def body(self, matte_frame: MatteFrame) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.job.stream(matte_frame):
                if chunk:
                    yield chunk
            self.status = "200"
        except (ApiError, ClipReadError) as exc:
            # The 200 and part of the clip are sent already: all that is left is to stop. The client
            # sees a truncated stream (no final chunk); the log and the metric say why.
            self.status = "aborted"
            log.warning("video stopped after the response started: %s", exc)
        except Exception:
            self.status = "aborted"
            log.exception("video failed after the response started")

    async def close(self) -> None:
        self.job.release()
        await self.upload.close()
        self.state.videos_in_flight -= 1
        output = self.job.options.output.value
        self.state.metrics.video_requests.labels(output, self.engine, self.status).inc()


async def open_session(state: ServiceState, request: Request) -> VideoSession:
    """Read, validate and probe the upload and decode its first frame: every client mistake is
    found here, before the response starts, and becomes a 4xx."""
    settings = state.settings
    upload = await read_video_upload(request)
    try:
        choice, options = parse_clip_options(upload.params)
        engine = engine_for(state, choice)
        limits = ClipLimits(
            settings.video_max_duration_s, settings.video_max_frames, settings.video_max_pixels
        )
        loop = asyncio.get_running_loop()
        info = await loop.run_in_executor(state.cpu_pool, probe_clip, upload.file, limits)
        metrics = state.metrics
        job = await loop.run_in_executor(
            state.cpu_pool,
            partial(
                ClipJob,
                upload.file,
                info,
                options,
                pool=state.cpu_pool,
                frames_in_flight=settings.video_frames_in_flight,
                on_frame=lambda seconds: _count_frame(metrics, engine, seconds),
            ),
        )
    except BaseException:
        await upload.close()
        raise
    try:
        await job.start()
    except BaseException:
        job.release()
        await upload.close()
        raise
    return VideoSession(state, upload, job, engine)


def _count_frame(metrics: Metrics, engine: str, seconds: float) -> None:
    metrics.video_frames.labels(engine).inc()
    metrics.video_frame_latency.labels(engine).observe(seconds)
