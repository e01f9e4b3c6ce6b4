"""The one place an `ApiError` becomes an HTTP response: status from the error table, Retry-After
for the kinds that mean "come back", the error counter, and the body in the caller's shape."""

from __future__ import annotations

from enum import Enum

from fastapi.responses import JSONResponse

from service.errors import RETRYABLE, ApiError
from service.metrics import Metrics


class ErrorShape(Enum):
    API = "api"  # {"error": {"code", "message"}}
    REMOVEBG = "removebg"  # remove.bg's {"errors": [{"title", "code"}]}


def error_response(
    error: ApiError, *, metrics: Metrics, retry_after_s: int, shape: ErrorShape = ErrorShape.API
) -> JSONResponse:
    metrics.errors.labels(error.kind.value).inc()
    headers = {"Retry-After": str(retry_after_s)} if error.kind in RETRYABLE else None
    body = error.removebg_body() if shape is ErrorShape.REMOVEBG else error.body()
    return JSONResponse(body, status_code=error.status, headers=headers)
