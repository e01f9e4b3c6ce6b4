"""One removal, end to end: decode -> engine (through the router and its batchers) -> matte
post-processing -> encode.

CPU work (decode, colour estimation, refinement, encode) runs in the CPU pool so the event loop
never blocks; engine work goes through the engine router, which also redoes an item with GrabCut
when MODNet fails for it (the result says so).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import partial

from service.contract import Alpha, EngineName, RGBImage
from service.deadline import within
from service.engine_router import EngineRouter
from service.imaging.bounds import DecodeLimits
from service.imaging.decode import decode_image
from service.imaging.encode import Rendered, check_renderable
from service.imaging.finish import Finished, finish
from service.imaging.foreground import estimate_foreground
from service.imaging.framing_options import Box
from service.imaging.options import EngineChoice, OutputKind, OutputOptions, Refinement
from service.imaging.refine import refine_with_trimap


@dataclass(frozen=True)
class RemovalResult:
    rendered: Rendered
    engine: EngineName
    model_id: str
    fallback_reason: str | None
    width: int  # of the result: the input's, unless crop/scale/size changed it
    height: int
    subject: Box | None = None  # the subject's box in the result


@dataclass(frozen=True)
class RemovalPipeline:
    router: EngineRouter
    cpu_pool: Executor
    max_pixels: int
    timeout_s: float
    limits: DecodeLimits  # side, aspect ratio, JPEG scans, memory cap; the request adds its options

    async def run(self, data: bytes, choice: EngineChoice, options: OutputOptions) -> RemovalResult:
        deadline = time.monotonic() + self.timeout_s
        loop = asyncio.get_running_loop()
        limits = replace(self.limits, options=options)  # the memory estimate depends on the output
        decode = partial(decode_image, data, max_pixels=self.max_pixels, limits=limits)
        decoded = await within(deadline, loop.run_in_executor(self.cpu_pool, decode))
        rgb = decoded.rgb
        # Refuse impossible outputs (e.g. a 1x20000 strip as WebP) before spending inference on them.
        check_renderable(rgb.shape[1], rgb.shape[0], options)
        routed = await self.router.predict(rgb, choice, deadline)
        finished = await within(
            deadline, loop.run_in_executor(self.cpu_pool, _finish, rgb, routed.alpha, options)
        )
        return RemovalResult(
            rendered=finished.rendered,
            engine=routed.engine,
            model_id=routed.model_id,
            fallback_reason=routed.fallback_reason,
            width=finished.width,
            height=finished.height,
            subject=finished.subject,
        )


def _finish(rgb: RGBImage, alpha: Alpha, options: OutputOptions) -> Finished:
    if options.refine is Refinement.TRIMAP:
        alpha = refine_with_trimap(rgb, alpha)
    foreground = None
    if options.decontaminate and options.output is not OutputKind.MASK:
        foreground = estimate_foreground(rgb, alpha)
    # Framing and the size budget act on the finished colour and alpha, in this CPU pool thread.
    return finish(rgb if foreground is None else foreground, alpha, options)
