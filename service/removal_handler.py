"""One removal request over HTTP, shared by `/remove-background` and the remove.bg-compatible
alias, which differ only in their `RemovalDialect`: upload field name, parameter vocabulary, error
shape and extra headers.

Order matters: readiness and admission are checked before the upload is read (overload answers stay
cheap), every parameter is validated before any work is queued, and the pipeline is cancelled when
the client leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import Response
from starlette.requests import Request

from service.dependencies import ready_pipeline, service_state
from service.disconnect import until_disconnect
from service.error_response import ErrorShape, error_response
from service.errors import STATUS, ApiError, ErrorKind
from service.imaging.options import parse_options
from service.pipeline import RemovalResult
from service.upload import read_upload

ParamTranslator = Callable[[dict[str, str], tuple[str, ...]], dict[str, str]]
ExtraHeaders = Callable[[RemovalResult], dict[str, str]]
Responder = Callable[[Request, RemovalResult, dict[str, str]], Response]


@dataclass(frozen=True)
class RemovalDialect:
    field: str = "image"
    b64_field: str | None = None  # a parameter that may carry the image base64-encoded (+ JSON bodies)
    translate: ParamTranslator | None = None  # (params, other file fields) -> our parameters
    error_shape: ErrorShape = ErrorShape.API
    extra_headers: ExtraHeaders | None = None
    respond: Responder | None = None  # builds the 200 response instead of the image body


async def handle_removal(request: Request, dialect: RemovalDialect) -> Response:
    state = service_state(request)
    metrics = state.metrics
    started = time.perf_counter()
    output, engine_used, status = "unknown", "none", 500
    try:
        pipeline = ready_pipeline(state)
        with state.admission.slot():
            upload = await read_upload(request, field=dialect.field, b64_field=dialect.b64_field)
            params = dialect.translate(upload.params, upload.files) if dialect.translate else upload.params
            choice, options = parse_options(params)
            if upload.missing is not None:
                raise ApiError(ErrorKind.MISSING_IMAGE, upload.missing)
            output = options.output.value
            result = await until_disconnect(request, pipeline.run(upload.data, choice, options))
            if result is None:
                metrics.dropped.labels("any", "client_disconnected").inc()
                status = STATUS[ErrorKind.CLIENT_CLOSED]  # nobody reads this response
                return Response(status_code=status)
            engine_used, status = result.engine.value, 200
            headers = result_headers(result, started, dialect)
            if dialect.respond is not None:
                return dialect.respond(request, result, headers)
            return Response(
                content=result.rendered.content, media_type=result.rendered.media_type, headers=headers
            )
    except ApiError as exc:
        status = exc.status
        return error_response(
            exc, metrics=metrics, retry_after_s=state.settings.retry_after_s, shape=dialect.error_shape
        )
    finally:
        metrics.requests.labels(output, engine_used, str(status)).inc()
        metrics.request_duration.labels(output).observe(time.perf_counter() - started)


def result_headers(result: RemovalResult, started: float, dialect: RemovalDialect) -> dict[str, str]:
    headers = {
        "X-Engine": result.engine.value,
        "X-Model": result.model_id,
        "X-Processing-Time-Ms": f"{(time.perf_counter() - started) * 1000:.1f}",
        "X-Image-Width": str(result.width),
        "X-Image-Height": str(result.height),
    }
    if result.fallback_reason:
        headers["X-Fallback-Reason"] = result.fallback_reason
    if result.rendered.media_type == "application/zip":
        headers["Content-Disposition"] = 'attachment; filename="result.zip"'
    if dialect.extra_headers is not None:
        headers.update(dialect.extra_headers(result))
    return headers
