"""One removal, end to end: decode -> shrink to the engine's input -> engine (through the router
and its batchers) -> upsampling to the photo -> matte post-processing -> encode.

CPU work (decode, the shrink, upsampling, colour estimation, encode) runs in the CPU pool so the
event loop never blocks and the engine thread runs the network only; engine work goes through the
engine router, which also redoes an item with GrabCut (at full resolution) when MODNet fails for
it (the result says so).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import partial

from service.contract import EngineName, RGBImage
from service.deadline import within
from service.engine_router import EngineRouter, Routed
from service.imaging.blend import quantize_alpha
from service.imaging.bounds import DecodeLimits
from service.imaging.decode import decode_image
from service.imaging.encode import Rendered, check_renderable
from service.imaging.finish import Finished, finish
from service.imaging.foreground import estimate_foreground
from service.imaging.framing_options import Box
from service.imaging.islands import MIN_ISLAND_FRACTION
from service.imaging.matte_scale import Upsampling, upsample
from service.imaging.options import EngineChoice, OutputKind, OutputOptions, Refinement


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
    upsampling: Upsampling = Upsampling.GUIDED  # low-resolution matte -> photo size
    min_island: float = MIN_ISLAND_FRACTION  # smaller foreground regions are dropped (`islands`)

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
            deadline,
            loop.run_in_executor(
                self.cpu_pool, _finish, rgb, routed, options, self.upsampling, self.min_island, self.cpu_pool
            ),
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


def _finish(
    rgb: RGBImage,
    routed: Routed,
    options: OutputOptions,
    upsampling: Upsampling,
    min_island: float,
    helper: Executor,
) -> Finished:
    # `refine=trimap` is an alias of the default guided upsampling (docs/benchmarks.md, "Matte
    # upsampling": the separate trimap re-solve no longer helped once the matte is upsampled guided).
    trimap = options.refine is Refinement.TRIMAP
    method = Upsampling.GUIDED if trimap else upsampling
    # `helper` is the CPU pool this runs in: an idle thread of it shares the full-resolution rows.
    alpha = upsample(
        rgb, routed.alpha, method, guide_small=routed.engine_input, helper=helper, min_island=min_island
    )
    alpha8 = quantize_alpha(alpha)  # the output's alpha, quantised once for every step below
    foreground = None
    if options.decontaminate and options.output is not OutputKind.MASK:
        foreground = estimate_foreground(rgb, alpha8, helper)
    # Framing and the size budget act on the finished colour and alpha, in this CPU pool thread.
    return finish(rgb if foreground is None else foreground, alpha8, options, helper)
