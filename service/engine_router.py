"""Which engine serves an image, and what happens when it fails: the pipeline asks the router for
an alpha and gets back the alpha, the engine that made it, its model id and, when MODNet failed for
the item and GrabCut redid it, the reason.

The photo is shrunk to the chosen engine's `input_size` in the CPU pool before it is queued, so
the batcher's buckets hold equal shapes and the engine thread runs the network only; the alpha
comes back at that size (GrabCut's at full resolution) and the pipeline upsamples it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

from service.batcher import BatcherClosedError, DynamicBatcher, EngineStalledError, Priority, QueueFullError
from service.contract import Alpha, EngineName, EngineOutOfMemory, RGBImage
from service.deadline import within
from service.errors import ApiError, ErrorKind
from service.imaging.matte_scale import shrink
from service.imaging.options import EngineChoice
from service.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routed:
    alpha: Alpha  # at the engine's input size; the pipeline brings it to the photo's
    engine: EngineName
    model_id: str
    # "out_of_memory" | "engine_timeout" | "engine_error" when GrabCut stood in
    fallback_reason: str | None = None
    engine_input: RGBImage | None = None  # the photo shrunk to the engine's input (None: full size)


class EngineRouter:
    def __init__(
        self,
        batchers: Mapping[EngineName, DynamicBatcher],
        metrics: Metrics,
        cpu_pool: Executor | None = None,
        *,
        modnet_error: str | None = None,
    ) -> None:
        """`cpu_pool` runs the shrink to an engine's input (None: the event loop's default pool)."""
        if EngineName.GRABCUT not in batchers:
            raise ValueError("GrabCut, the fallback, must always be served")
        self._batchers = batchers
        self._metrics = metrics
        self._cpu_pool = cpu_pool
        self.modnet_error = modnet_error  # why MODNet is absent, for /readyz and engine=modnet

    @property
    def default_engine(self) -> EngineName:
        return EngineName.MODNET if EngineName.MODNET in self._batchers else EngineName.GRABCUT

    def model_ids(self) -> dict[str, str]:
        return {name.value: self.model_id(name) for name in self._batchers}

    def batch_caps(self) -> dict[str, int]:
        """Most items per engine call, as measured at warm-up (service.batch_cap)."""
        return {name.value: batcher.max_batch_size for name, batcher in self._batchers.items()}

    def stalled_engines(self) -> list[EngineName]:
        """Engines whose batcher has a call hung past its stall timeout (/readyz turns 503)."""
        return [name for name, batcher in self._batchers.items() if batcher.stalled]

    def model_id(self, name: EngineName) -> str:
        return self._batchers[name].engine.model_id

    async def predict(
        self, rgb: RGBImage, choice: EngineChoice, deadline: float, priority: Priority = Priority.FIRST
    ) -> Routed:
        """`priority=Priority.FILL` for bulk work (video frames): photos are batched first."""
        name = self.select(choice)
        if name is EngineName.GRABCUT:
            return await self._through(name, rgb, deadline, priority)
        try:
            return await self._through(name, rgb, deadline, priority)
        except ApiError:
            raise  # queue full / timeout / draining: the client should retry, not get GrabCut quality
        except Exception as exc:
            reason = _fallback_reason(exc)
            log.warning("MODNet failed for an item (%s: %s); falling back to GrabCut", reason, exc)
            self._metrics.fallbacks.labels(reason).inc()
            routed = await self._through(EngineName.GRABCUT, rgb, deadline, priority)
            return Routed(routed.alpha, routed.engine, routed.model_id, fallback_reason=reason)

    def select(self, choice: EngineChoice) -> EngineName:
        """The engine that serves `choice`; `ApiError(ENGINE_UNAVAILABLE)` for MODNet when absent."""
        if choice is EngineChoice.GRABCUT:
            return EngineName.GRABCUT
        if choice is EngineChoice.MODNET and EngineName.MODNET not in self._batchers:
            reason = self.modnet_error or "not loaded"
            raise ApiError(ErrorKind.ENGINE_UNAVAILABLE, f"engine=modnet is not available here ({reason})")
        return self.default_engine

    async def _through(self, name: EngineName, rgb: RGBImage, deadline: float, priority: Priority) -> Routed:
        batcher = self._batchers[name]
        size = batcher.engine.input_size(rgb.shape[0], rgb.shape[1])
        small = None
        if size != rgb.shape[:2]:
            loop = asyncio.get_running_loop()
            small = await within(deadline, loop.run_in_executor(self._cpu_pool, shrink, rgb, size))
        try:
            future = batcher.submit(rgb if small is None else small, priority)
        except QueueFullError:
            self._metrics.rejected.labels("queue_full").inc()
            raise ApiError(
                ErrorKind.QUEUE_FULL,
                f"server busy: the {name} queue is full; retry after the Retry-After delay",
            ) from None
        except BatcherClosedError:
            self._metrics.rejected.labels("draining").inc()
            raise ApiError(
                ErrorKind.NOT_READY, "server is shutting down; retry on another instance"
            ) from None
        try:
            # On timeout `within` cancels the future, so the batcher drops the item if it has not run yet.
            alpha = await within(deadline, future)
        except BatcherClosedError:
            raise ApiError(ErrorKind.NOT_READY, "server shut down before this request ran") from None
        return Routed(alpha, name, batcher.engine.model_id, engine_input=small)


def _fallback_reason(exc: Exception) -> str:
    """By type: an error that names its own reason (`EngineStalledError`: engine_timeout), the
    engines' out-of-memory, or any other engine failure."""
    if isinstance(exc, EngineStalledError):
        return exc.fallback_reason
    return "out_of_memory" if isinstance(exc, EngineOutOfMemory) else "engine_error"
