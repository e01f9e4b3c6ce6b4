"""One removal request over HTTP, shared by `/remove-background` and the remove.bg-compatible
alias, which differ only in their `RemovalDialect`: upload field name, parameter vocabulary, error
shape and extra headers.

Order matters: readiness and admission are checked before the upload is read (overload answers stay
cheap); the body is read under an upload place and a clock (slow uploads hold no in-flight place);
every parameter is validated before any work is queued; the in-flight place and the memory
reservation (from the image header) are taken once the body is read; the pipeline is cancelled when
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
from service.imaging.bounds import request_memory_bytes
from service.imaging.options import OutputOptions, parse_options
from service.pipeline import RemovalResult
from service.state import ServiceState
from service.upload import declared_size, drain, read_upload, upload_clock

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
    read_started = body_read = False
    admission = state.admission
    try:
        pipeline = ready_pipeline(state)
        admission.check()  # no place or too long a wait: refused before the upload is read
        with admission.reading() as place:
            read_started = True
            upload = await read_upload(
                request,
                field=dialect.field,
                b64_field=dialect.b64_field,
                clock=upload_clock(state.settings, place),
            )
        body_read = True
        params = dialect.translate(upload.params, upload.files) if dialect.translate else upload.params
        choice, options = parse_options(params)
        if upload.missing is not None:
            raise ApiError(ErrorKind.MISSING_IMAGE, upload.missing)
        output = options.output.value
        with admission.slot(), admission.memory(*working_memory(upload.data, options)):
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
        response = error_response(
            exc, metrics=metrics, retry_after_s=state.settings.retry_after_s, shape=dialect.error_shape
        )
        # A body not read to its end must not be parsed as the connection's next request: read and
        # drop it if the refusal came before the read and it is small, else close the connection.
        if not body_read and (read_started or not await drain_refused(request, state)):
            response.headers["Connection"] = "close"
        return response
    finally:
        metrics.requests.labels(output, engine_used, str(status)).inc()
        metrics.request_duration.labels(output).observe(time.perf_counter() - started)


async def drain_refused(request: Request, state: ServiceState) -> bool:
    """Reads and drops the body of a request refused before its upload was read (`upload.drain`),
    under an upload place and the usual upload clock (at most 5 s), so draining is bounded like
    reading; False (close the connection) when no upload place is free."""
    try:
        with state.admission.reading() as place:
            clock = upload_clock(state.settings, place, total_s=min(5.0, state.settings.upload_timeout_s))
            return await drain(request, clock)
    except ApiError:
        return False


def working_memory(data: bytes, options: OutputOptions) -> tuple[int, str]:
    """The request's memory reservation, from the image header (no pixel decoded), and what it is
    for. A header that does not say is refused by decoding anyway; it reserves the fixed part only."""
    size = declared_size(data)
    if size is None:
        return request_memory_bytes(0, 0, options), "this image"
    what = f"a {size[0]}x{size[1]} image with output={options.output.value}"
    return request_memory_bytes(*size, options), what


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
