"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.errors import ApiError, ErrorKind
from service.routes.removal import require_ready, service_state

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is up and its event loop answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: engines loaded and warmed up, not draining",
    responses={503: {"description": "not_ready (loading, failed to load with require_modnet, or draining)"}},
)
async def readyz(request: Request) -> JSONResponse:
    state = service_state(request)
    require_ready(state)
    if stalled := [name for name, batcher in state.batchers.items() if batcher.stalled]:
        raise ApiError(ErrorKind.NOT_READY, f"not ready: engine {', '.join(stalled)} stalled")
    engines = state.engines
    if engines is None:  # pragma: no cover - ready implies loaded
        raise ApiError(ErrorKind.NOT_READY, "engines not loaded")
    body = {
        "status": "ready",
        "engines": {name: batcher.engine.model_id for name, batcher in state.batchers.items()},
        "default_engine": "modnet" if "modnet" in state.batchers else "grabcut",
        "modnet_unavailable_reason": engines.modnet_error,
    }
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response)
async def metrics(request: Request) -> Response:
    state = service_state(request)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
