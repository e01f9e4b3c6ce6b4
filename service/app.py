"""The app factory. Nothing happens at import: `create_app(settings)` builds an app, and its lifespan
loads the engines in the background so /healthz answers at once and /readyz turns 200 when the
engines are loaded and warmed up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from service import api_docs, malloc_reuse, memory_trim, ui
from service.access_log import PROBE_PATHS, install_probe_filter
from service.admission import Admission, AdmissionLimits, memory_budget_bytes
from service.auth import ApiKeyMiddleware
from service.batch_cap import measure_batch_cap
from service.batcher import DynamicBatcher
from service.config import Settings
from service.contract import EngineName
from service.cpu_pool import cpu_pool
from service.engine_router import EngineRouter
from service.engines.loader import EngineSet, load_engines
from service.error_response import ErrorShape, error_response
from service.errors import ApiError, ErrorKind
from service.imaging import kernels
from service.imaging.bounds import decode_limits
from service.imaging.matte_scale import Upsampling
from service.limits import BodySizeLimitMiddleware
from service.metrics import Metrics
from service.pipeline import RemovalPipeline
from service.place_limit import PlaceLimit
from service.routes import health, removal, removebg, video
from service.service_times import TimedEngine
from service.state import ServiceState

log = logging.getLogger(__name__)

_HTTP_KINDS = {
    400: ErrorKind.INVALID_PARAMETER,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.METHOD_NOT_ALLOWED,
    413: ErrorKind.PAYLOAD_TOO_LARGE,
    415: ErrorKind.UNSUPPORTED_MEDIA_TYPE,
}


def create_app(
    settings: Settings,
    *,
    engines: EngineSet | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """`engines` replaces loading from settings (tests inject fakes); `registry` lets several apps
    live in one process without metric name clashes."""
    metrics = Metrics(registry)
    install_probe_filter()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.malloc_reuse:
            malloc_reuse.apply()  # before the pool's threads and the engines allocate
        workers = settings.cpu_workers or os.cpu_count() or 2
        pool = cpu_pool(workers, settings.cpu_pool_nice)
        videos = PlaceLimit(
            settings.video_max_concurrent,
            metrics,
            noun="videos",
            reason="videos_busy",
            gauge=metrics.videos_in_flight,
        )
        state = ServiceState(settings, metrics, pool, Admission(admission_limits(settings), metrics), videos)
        app.state.service = state
        starting = asyncio.create_task(_start_engines(state, engines), name="start-engines")
        trimming = None
        if settings.memory_trim_idle_s > 0 and memory_trim.AVAILABLE:
            trimming = asyncio.create_task(
                memory_trim.trim_when_idle(
                    lambda: state.admission.in_flight, state.ready, settings.memory_trim_idle_s
                ),
                name="memory-trim",
            )
        try:
            yield
        finally:
            if trimming is not None:
                trimming.cancel()
            await _drain(state, starting)

    app = FastAPI(
        title="bgremove",
        summary="Background removal: batched MODNet portrait matting, GrabCut fallback.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api_docs, from local assets instead of a CDN
        redoc_url=None,
    )

    def on_error(error: ApiError, scope: Scope) -> JSONResponse:
        return _error_response(error, metrics, settings, scope.get("path", ""))

    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys, open_paths=_OPEN_PATHS, on_error=on_error)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_image_bytes=settings.max_upload_bytes,
        path_limits={video.PATH: settings.video_max_upload_bytes},
        on_error=on_error,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=[
                *("X-Engine", "X-Model", "X-Processing-Time-Ms", "X-Fallback-Reason"),
                *("X-Image-Width", "X-Image-Height", "X-Width", "X-Height", "X-Type"),
                *(f"X-Foreground-{side}" for side in ("Top", "Left", "Width", "Height")),
            ],
        )
    _install_error_handlers(app, metrics, settings)
    app.include_router(removal.router)
    app.include_router(removebg.router)
    app.include_router(video.router)
    app.include_router(health.router)
    app.include_router(ui.router)
    api_docs.install_docs(app, title="bgremove")
    return app


# Probes and metrics must work without an API key (kubelet and Prometheus carry none); the upload
# page is static and asks for the key itself.
_OPEN_PATHS = PROBE_PATHS | ui.UI_PATHS


async def _start_engines(state: ServiceState, injected: EngineSet | None) -> None:
    settings = state.settings
    try:
        engines = injected if injected is not None else await asyncio.to_thread(load_engines, settings)
        # The imaging kernels are compiled (or read from numba's cache) before the service says it is
        # ready, so no request pays for the compiler.
        await asyncio.to_thread(kernels.warm_up)
        state.engines = engines
        if engines.modnet is None and settings.require_modnet:
            state.load_error = f"MODNet required but unavailable: {engines.modnet_error}"
            log.error("%s", state.load_error)
            return
        if engines.modnet is not None:
            state.batchers[EngineName.MODNET] = DynamicBatcher(
                TimedEngine(engines.modnet),
                max_batch_size=settings.max_batch_size,
                max_wait_s=settings.max_batch_wait_ms / 1000.0,
                max_queue=settings.max_queue,
                metrics=state.metrics,
                stall_timeout_s=settings.engine_stall_timeout_s,
            )
        # GrabCut is per-image CPU work: no batching, several run side by side.
        state.batchers[EngineName.GRABCUT] = DynamicBatcher(
            TimedEngine(engines.grabcut, settings.grabcut_workers),
            max_batch_size=1,
            max_wait_s=0.0,
            max_queue=settings.max_queue,
            metrics=state.metrics,
            concurrency=settings.grabcut_workers,
        )
        for name, batcher in state.batchers.items():
            if settings.warmup:
                await asyncio.to_thread(batcher.engine.warmup)
                if settings.measure_batch_cap and batcher.max_batch_size > 1:
                    await _cap_batches(batcher)
            state.metrics.batch_cap.labels(name).set(batcher.max_batch_size)
            batcher.start()
            state.metrics.model_ready.labels(name).set(1)
        _wire_queue_stats(state)
        router = EngineRouter(
            state.batchers, state.metrics, state.cpu_pool, modnet_error=engines.modnet_error
        )
        state.pipeline = RemovalPipeline(
            router,
            state.cpu_pool,
            max_pixels=settings.max_pixels,
            timeout_s=settings.request_timeout_s,
            limits=decode_limits(settings, None),
            upsampling=Upsampling(settings.upsampling),
            min_island=settings.min_island_fraction,
        )
        state.ready.set()
        log.info("ready: engines %s", {n: b.engine.model_id for n, b in state.batchers.items()})
    except Exception as exc:
        state.load_error = f"start-up failed: {exc!r}"
        log.exception("engine start-up failed")


def admission_limits(settings: Settings) -> AdmissionLimits:
    return AdmissionLimits(
        max_in_flight=settings.max_in_flight,
        max_uploads=settings.max_uploads,
        max_slow_uploads=settings.max_slow_uploads,
        memory_budget_bytes=memory_budget_bytes(settings.memory_budget_mb),
        max_wait_s=settings.admission_max_wait_s or settings.request_timeout_s / 2,
    )


def _wire_queue_stats(state: ServiceState) -> None:
    """Admission estimates the wait from the engine that `engine=auto` serves: MODNet when loaded."""
    for batcher in state.batchers.values():
        if isinstance(batcher.engine, TimedEngine):
            # A photo queues behind photos only: video frames (Priority.FILL) fill the room batches leave.
            batcher.engine.queued = lambda b=batcher: b.first_depth  # type: ignore[misc]
    primary = state.batchers.get(EngineName.MODNET) or state.batchers[EngineName.GRABCUT]
    if isinstance(primary.engine, TimedEngine):
        state.admission.queue = primary.engine


async def _cap_batches(batcher: DynamicBatcher) -> None:
    """max_batch_size is a ceiling: the cap is where per-item cost stopped falling at warm-up. A
    failure to measure (the engine failing a large batch) keeps the ceiling."""
    name, ceiling = batcher.engine.name, batcher.max_batch_size
    try:
        measured = await asyncio.to_thread(measure_batch_cap, batcher.engine, ceiling)
    except Exception:
        log.exception("measuring the %s batch cap failed; keeping %d", name, ceiling)
        return
    batcher.max_batch_size = measured.cap


async def _drain(state: ServiceState, starting: asyncio.Task[None]) -> None:
    """Stop admitting, finish what was admitted (bounded by drain_timeout_s), release engines."""
    state.draining = True
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    await asyncio.gather(*(b.stop(state.settings.drain_timeout_s) for b in state.batchers.values()))
    for name, batcher in state.batchers.items():
        state.metrics.model_ready.labels(name).set(0)
        try:
            batcher.engine.close()
        except Exception:
            log.exception("closing engine %s failed", name)
    state.cpu_pool.shutdown(wait=False, cancel_futures=True)


# Paths whose errors take remove.bg's shape, wherever they are raised (middleware, routing, handler).
_REMOVEBG_PATHS = frozenset({removebg.PATH})


def _error_response(error: ApiError, metrics: Metrics, settings: Settings, path: str) -> JSONResponse:
    shape = ErrorShape.REMOVEBG if path in _REMOVEBG_PATHS else ErrorShape.API
    return error_response(error, metrics=metrics, retry_after_s=settings.retry_after_s, shape=shape)


def _install_error_handlers(app: FastAPI, metrics: Metrics, settings: Settings) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc, metrics, settings, request.url.path)

    @app.exception_handler(ClientDisconnect)
    async def client_disconnect(request: Request, __: ClientDisconnect) -> JSONResponse:
        # Wherever else a read meets a hang-up: the client's doing, not an internal_error.
        error = ApiError(ErrorKind.CLIENT_CLOSED, "the client closed the connection")
        return _error_response(error, metrics, settings, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error_response(
            ApiError(ErrorKind.INVALID_PARAMETER, details), metrics, settings, request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_KINDS.get(exc.status_code, ErrorKind.INTERNAL)
        response = _error_response(ApiError(kind, str(exc.detail)), metrics, settings, request.url.path)
        response.status_code = exc.status_code
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error_response(
            ApiError(ErrorKind.INTERNAL, "internal error"), metrics, settings, request.url.path
        )
