"""What a route takes from the request: the service state, and its pipeline once it is ready."""

from __future__ import annotations

from fastapi import Request

from service.errors import ApiError, ErrorKind
from service.pipeline import RemovalPipeline
from service.state import ServiceState


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def ready_pipeline(state: ServiceState) -> RemovalPipeline:
    """The pipeline, or `ApiError(NOT_READY)` while loading, after a failed start or when draining."""
    if not state.is_ready or state.pipeline is None:
        why = "shutting down" if state.draining else (state.load_error or "loading the model")
        raise ApiError(ErrorKind.NOT_READY, f"not ready: {why}")
    return state.pipeline
