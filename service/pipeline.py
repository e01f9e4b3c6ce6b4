"""One removal, end to end: decode -> engine (batched) -> matte post-processing -> encode.

CPU work (decode, colour estimation, refinement, encode) runs in the CPU pool so the event loop
never blocks; engine work goes through the engine's batcher. When MODNet fails for an item, that
item is redone by GrabCut and the result says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from service.batcher import BatcherClosedError, QueueFullError
from service.engines.base import Alpha, RGBImage
from service.errors import ApiError, ErrorKind
from service.imaging.bounds import decode_limits
from service.imaging.decode import decode_image
from service.imaging.encode import Rendered, check_renderable, render
from service.imaging.foreground import estimate_foreground
from service.imaging.options import EngineChoice, OutputKind, OutputOptions, Refinement
from service.imaging.refine import refine_with_trimap
from service.state import ServiceState

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RemovalResult:
    rendered: Rendered
    engine: str
    model_id: str
    fallback_reason: str | None
    width: int
    height: int


async def remove_background(
    state: ServiceState, data: bytes, choice: EngineChoice, options: OutputOptions
) -> RemovalResult:
    deadline = time.monotonic() + state.settings.request_timeout_s
    loop = asyncio.get_running_loop()
    decoded = await _within(
        deadline,
        loop.run_in_executor(
            state.cpu_pool,
            partial(
                decode_image,
                data,
                max_pixels=state.settings.max_pixels,
                limits=decode_limits(state.settings, options),
            ),
        ),
    )
    rgb = decoded.rgb
    # Refuse impossible outputs (e.g. a 1x20000 strip as WebP) before spending inference on them.
    check_renderable(rgb.shape[1], rgb.shape[0], options)
    alpha, engine_name, fallback_reason = await _predict(state, rgb, choice, deadline)
    rendered = await _within(deadline, loop.run_in_executor(state.cpu_pool, _finish, rgb, alpha, options))
    batcher = state.batchers[engine_name]
    return RemovalResult(
        rendered=rendered,
        engine=engine_name,
        model_id=batcher.engine.model_id,
        fallback_reason=fallback_reason,
        width=rgb.shape[1],
        height=rgb.shape[0],
    )


async def _within(deadline: float, work: Awaitable[T]) -> T:
    """The request deadline covers decoding and encoding too, not only the engine: when the CPU pool
    is the bottleneck, a request must not wait there unboundedly."""
    try:
        return await asyncio.wait_for(work, max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        raise ApiError(ErrorKind.TIMEOUT, "the request deadline passed before the result was ready") from None


def _finish(rgb: RGBImage, alpha: Alpha, options: OutputOptions) -> Rendered:
    if options.refine is Refinement.TRIMAP:
        alpha = refine_with_trimap(rgb, alpha)
    foreground = None
    if options.decontaminate and options.output is not OutputKind.MASK:
        foreground = estimate_foreground(rgb, alpha)
    return render(rgb, alpha, options, foreground=foreground)


def _select_engine(state: ServiceState, choice: EngineChoice) -> str:
    has_modnet = "modnet" in state.batchers
    if choice is EngineChoice.GRABCUT:
        return "grabcut"
    if choice is EngineChoice.MODNET and not has_modnet:
        reason = state.engines.modnet_error if state.engines else "not loaded"
        raise ApiError(ErrorKind.ENGINE_UNAVAILABLE, f"engine=modnet is not available here ({reason})")
    return "modnet" if has_modnet else "grabcut"


async def _predict(
    state: ServiceState, rgb: RGBImage, choice: EngineChoice, deadline: float
) -> tuple[Alpha, str, str | None]:
    name = _select_engine(state, choice)
    if name == "grabcut":
        return await _through(state, "grabcut", rgb, deadline), "grabcut", None
    try:
        return await _through(state, "modnet", rgb, deadline), "modnet", None
    except ApiError:
        raise  # queue full / timeout / draining: the client should retry, not get GrabCut quality
    except Exception as exc:
        reason = getattr(exc, "fallback_reason", None) or (
            "out_of_memory" if "OutOfMemory" in type(exc).__name__ else "engine_error"
        )
        log.warning("MODNet failed for an item (%s: %s); falling back to GrabCut", reason, exc)
        state.metrics.fallbacks.labels(reason).inc()
        return await _through(state, "grabcut", rgb, deadline), "grabcut", reason


async def _through(state: ServiceState, name: str, rgb: RGBImage, deadline: float) -> Alpha:
    batcher = state.batchers[name]
    try:
        future = batcher.submit(rgb)
    except QueueFullError:
        state.metrics.rejected.labels("queue_full").inc()
        raise ApiError(
            ErrorKind.QUEUE_FULL, f"server busy: the {name} queue is full; retry after the Retry-After delay"
        ) from None
    except BatcherClosedError:
        state.metrics.rejected.labels("draining").inc()
        raise ApiError(ErrorKind.NOT_READY, "server is shutting down; retry on another instance") from None
    try:
        # On timeout wait_for cancels the future, so the batcher drops the item if it has not run yet.
        return await _within(deadline, future)
    except BatcherClosedError:
        raise ApiError(ErrorKind.NOT_READY, "server shut down before this request ran") from None
