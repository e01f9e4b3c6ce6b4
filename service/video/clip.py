"""One clip, end to end: decode -> matte (through the caller's engine) -> OFD -> render -> encode,
pipelined with bounded memory.

At most `frames_in_flight` frames are decoded and not yet encoded (plus the one OFD holds back):
that many are submitted to the engine at once, so they batch with each other and with photos,
while one clip can never fill the engine queue and starve photo requests. Decoding and encoding
run in the CPU pool; both touch PyAV objects, so they run one at a time per clip, under a lock
that also keeps `release` from closing a container under a running decode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import IO, TypeVar

import av

from service.contract import Alpha, RGBImage
from service.errors import ApiError, ErrorKind
from service.imaging.options import RGB
from service.video.ofd import OfdFilter
from service.video.probe import ClipInfo
from service.video.reader import ClipReader, ClipReadError, Frame
from service.video.render import VideoOutput, render_frame
from service.video.writer import WebmWriter

T = TypeVar("T")

MatteFrame = Callable[[RGBImage], Awaitable[Alpha]]
"""The engine, as the route supplies it: one RGB frame -> its alpha (submitted to a batcher)."""


@dataclass(frozen=True)
class ClipOptions:
    output: VideoOutput = VideoOutput.RGBA
    bg_color: RGB = (255, 255, 255)
    ofd: bool = True


class ClipJob:
    def __init__(
        self,
        file: IO[bytes],
        info: ClipInfo,
        options: ClipOptions,
        *,
        pool: Executor,
        frames_in_flight: int,
        threads: int = 0,
        on_frame: Callable[[float], None] | None = None,
    ) -> None:
        self.info = info
        self.options = options
        self._pool = pool
        self._window = max(1, frames_in_flight)
        self._on_frame = on_frame
        self._lock = threading.Lock()
        self._reader = ClipReader(file, info, keep_audio=info.audio_passes_through, threads=threads)
        self._writer = WebmWriter(
            info.width,
            info.height,
            self._reader.time_base,
            alpha=options.output is VideoOutput.RGBA,
            audio=self._reader.audio_stream,
            threads=threads,
        )
        self._first: Frame | None = None
        self._released = False

    async def start(self) -> None:
        """Decode the first frame before anything is sent, so an undecodable stream is still a 400."""
        try:
            self._first = await self._in_pool(self._next_frame)
        except ClipReadError as exc:
            raise ApiError(ErrorKind.INVALID_VIDEO, str(exc)) from None
        if self._first is None:
            raise ApiError(ErrorKind.INVALID_VIDEO, "the video stream decodes to no frames")

    async def stream(self, matte_frame: MatteFrame) -> AsyncIterator[bytes]:
        """The encoded WebM, chunk by chunk. Cancelling it (the client left) withdraws the frames
        still queued for the engine and releases decoder and encoder."""
        pending: deque[tuple[Frame, float, asyncio.Task[Alpha]]] = deque()
        ofd: OfdFilter[tuple[Frame, float]] = OfdFilter(enabled=self.options.ofd)
        frame, exhausted = self._first, False
        try:
            while True:
                while len(pending) < self._window and not exhausted:
                    if frame is None:
                        frame = await self._in_pool(self._next_frame)
                    if frame is None:
                        exhausted = True
                        break
                    task = asyncio.ensure_future(matte_frame(frame.rgb))
                    pending.append((frame, time.monotonic(), task))
                    frame = None
                if not pending:
                    break
                head, decoded_at, task = pending.popleft()
                alpha = await task
                for (done, started), smoothed in ofd.push((head, decoded_at), alpha):
                    yield await self._in_pool(self._encode, done, smoothed, started)
            for (done, started), smoothed in ofd.flush():
                yield await self._in_pool(self._encode, done, smoothed, started)
            yield await self._in_pool(self._finish)
        finally:
            for _, _, task in pending:
                task.cancel()
            self.release()

    def release(self) -> None:
        """Close decoder and encoder once no pool job uses them (idempotent, never blocks)."""
        try:
            self._pool.submit(self._release)
        except RuntimeError:  # the pool is shut down (server stopping): nothing else runs there
            self._release()

    # ------------------------------------------------------------------ pool jobs (blocking)
    def _next_frame(self) -> Frame | None:
        with self._lock:
            return next(self._reader, None)

    def _encode(self, frame: Frame, alpha: Alpha, decoded_at: float) -> bytes:
        pixels, pixel_format = render_frame(frame.rgb, alpha, self.options.output, self.options.bg_color)
        with self._lock:
            self._copy_audio(until_s=frame.seconds)
            data = self._writer.write_frame(pixels, pixel_format, frame.pts)
        if self._on_frame is not None:
            self._on_frame(time.monotonic() - decoded_at)
        return data

    def _finish(self) -> bytes:
        with self._lock:
            self._copy_audio(until_s=float("inf"))
            data = self._writer.close()
            self._reader.close()
            self._released = True
        return data

    def _copy_audio(self, until_s: float) -> None:
        audio = self._reader.audio
        while audio and _seconds(audio[0]) <= until_s:
            self._writer.write_audio(audio.popleft())

    def _release(self) -> None:
        with self._lock:
            if not self._released:
                self._released = True
                self._writer.abort()
                self._reader.close()

    async def _in_pool(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)


def _seconds(packet: av.Packet) -> float:
    stamp = packet.pts if packet.pts is not None else packet.dts
    return float(stamp * packet.time_base) if stamp is not None and packet.time_base else 0.0
