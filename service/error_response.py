"""The one place an `ApiError` becomes an HTTP response: status from the error table, Retry-After
for the kinds that mean "come back" (the error's own estimate when it has one, else the setting),
the error counter (and one log line, no traceback, for a client that hung up), and the body in the
caller's shape."""

from __future__ import annotations

import logging
import math
from enum import Enum

from fastapi.responses import JSONResponse

from service.errors import RETRYABLE, ApiError, ErrorKind
from service.metrics import Metrics

log = logging.getLogger(__name__)


class ErrorShape(Enum):
    API = "api"  # {"error": {"code", "message"}}
    REMOVEBG = "removebg"  # remove.bg's {"errors": [{"title", "code"}]}


def error_response(
    error: ApiError, *, metrics: Metrics, retry_after_s: int, shape: ErrorShape = ErrorShape.API
) -> JSONResponse:
    metrics.errors.labels(error.kind.value).inc()
    if error.kind is ErrorKind.CLIENT_CLOSED:  # one line, no traceback: routine on the internet
        log.info("%s", error.message)
    retry = retry_after_s if error.retry_after_s is None else max(1, math.ceil(error.retry_after_s))
    headers = {"Retry-After": str(retry)} if error.kind in RETRYABLE else None
    body = error.removebg_body() if shape is ErrorShape.REMOVEBG else error.body()
    return JSONResponse(body, status_code=error.status, headers=headers)
