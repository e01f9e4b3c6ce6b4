"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.dependencies import ready_pipeline, service_state
from service.errors import ApiError, ErrorKind

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is up and its event loop answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: engines loaded and warmed up, not draining",
    responses={
        503: {
            "description": "not_ready (loading, failed to load with require_modnet, draining, "
            "or an engine call stalled)"
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    state = service_state(request)
    router = ready_pipeline(state).router
    if stalled := router.stalled_engines():
        raise ApiError(ErrorKind.NOT_READY, f"not ready: engine {', '.join(stalled)} stalled")
    body = {
        "status": "ready",
        "engines": router.model_ids(),
        "default_engine": router.default_engine.value,
        "batch_caps": router.batch_caps(),
        "modnet_unavailable_reason": router.modnet_error,
    }
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response)
async def metrics(request: Request) -> Response:
    state = service_state(request)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
