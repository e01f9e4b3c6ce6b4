"""One video request between the route and `ClipJob`: parameters, probe against the limits, the
engine (chosen by the engine router, as for photos), the response headers, the metrics, and
releasing everything however it ends.

Frames reach the engine through the engine router, like photos, at `Priority.FILL`: the batcher
takes waiting photos first and frames fill the rest of a batch, so a long clip cannot starve photo
requests. Like a photo, a frame MODNet fails on is redone by GrabCut (the fallback metric counts it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from functools import partial

from starlette.requests import Request

from service.batcher import Priority
from service.contract import Alpha, EngineName, RGBImage
from service.engine_router import EngineRouter
from service.errors import ApiError, ErrorKind
from service.imaging.islands import MIN_ISLAND_FRACTION
from service.imaging.matte_scale import Upsampling, upsample
from service.imaging.options import EngineChoice, parse_enum, parse_hex_color
from service.metrics import Metrics
from service.state import ServiceState
from service.upload import upload_clock
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


def matte_through_router(
    router: EngineRouter,
    engine: EngineName,
    timeout_s: float,
    upsampling: Upsampling,
    cpu_pool: Executor,
    min_island: float = MIN_ISLAND_FRACTION,
) -> MatteFrame:
    """One frame -> its alpha at the frame's size, through the router and the batcher photos use,
    behind the photos (`Priority.FILL`), upsampled in the CPU pool as the photo pipeline does (so a
    frame gets the matte the same still would). Each frame has the request timeout from when it is
    submitted."""
    choice = EngineChoice(engine.value)

    async def matte(rgb: RGBImage) -> Alpha:
        routed = await router.predict(rgb, choice, time.monotonic() + timeout_s, Priority.FILL)
        scale = partial(
            upsample, rgb, routed.alpha, upsampling, guide_small=routed.engine_input, min_island=min_island
        )
        return await asyncio.get_running_loop().run_in_executor(cpu_pool, scale)

    return matte


class VideoSession:
    def __init__(
        self,
        state: ServiceState,
        upload: VideoUpload,
        job: ClipJob,
        router: EngineRouter,
        engine: EngineName,
    ) -> None:
        self.state = state
        self.upload = upload
        self.job = job
        self.router = router
        self.engine = engine
        self.status = "499"  # until the last chunk is out, the client may still leave

    def headers(self) -> dict[str, str]:
        info = self.job.info
        return {
            "X-Engine": self.engine.value,
            "X-Model": self.router.model_id(self.engine),
            "X-Video-Width": str(info.width),
            "X-Video-Height": str(info.height),
            "X-Video-Frames": str(info.frames),
            "X-Audio": info.audio_note,
            "Content-Disposition": 'inline; filename="result.webm"',
        }

    async def body(self) -> AsyncIterator[bytes]:
        matte = matte_through_router(
            self.router,
            self.engine,
            self.state.settings.request_timeout_s,
            Upsampling(self.state.settings.upsampling),
            self.state.cpu_pool,
            self.state.settings.min_island_fraction,
        )
        try:
            async for chunk in self.job.stream(matte):
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
        self.state.video_admission.release()
        output = self.job.options.output.value
        self.state.metrics.video_requests.labels(output, self.engine.value, self.status).inc()


async def open_session(state: ServiceState, router: EngineRouter, request: Request) -> VideoSession:
    """Read, validate and probe the upload and decode its first frame: every client mistake is
    found here, before the response starts, and becomes a 4xx.

    The body is read as a photo's is, under an upload place and its clock (a trickling or stalled
    upload is a 408 and holds no video place); the video place is taken once it is read, and from
    here on `VideoSession.close` gives it back."""
    settings = state.settings
    videos = state.video_admission
    videos.check()  # every video place busy: refused before the upload is read
    with state.admission.reading() as place:
        clock = upload_clock(settings, place, total_s=settings.video_upload_timeout_s)
        upload = await read_video_upload(request, clock=clock)
    try:
        videos.acquire()
    except BaseException:
        await upload.close()
        raise
    try:
        return await _start(state, router, upload)
    except BaseException:
        videos.release()
        raise


async def _start(state: ServiceState, router: EngineRouter, upload: VideoUpload) -> VideoSession:
    settings = state.settings
    try:
        choice, options = parse_clip_options(upload.params)
        engine = router.select(choice)
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
    return VideoSession(state, upload, job, router, engine)


def _count_frame(metrics: Metrics, engine: EngineName, seconds: float) -> None:
    metrics.video_frames.labels(engine).inc()
    metrics.video_frame_latency.labels(engine).observe(seconds)
