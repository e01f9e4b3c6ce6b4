"""Decoded frames of a clip, one at a time: the clip is never decoded as a whole.

Audio packets met on the way are kept (undecoded) for the writer to copy, in file order; they only
pile up over the few frames the pipeline holds in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import IO

import av
import numpy as np

from service.contract import RGBImage
from service.video.probe import READ_ERRORS, ClipInfo, open_clip


class ClipReadError(Exception):
    """The clip stopped decoding part way (corrupt bitstream, frames beyond the probed count)."""


@dataclass(frozen=True)
class Frame:
    index: int
    rgb: RGBImage
    pts: int  # in `time_base`; strictly increasing
    time_base: Fraction

    @property
    def seconds(self) -> float:
        return float(self.pts * self.time_base)


class ClipReader:
    def __init__(self, file: IO[bytes], info: ClipInfo, *, keep_audio: bool, threads: int = 0) -> None:
        self.info = info
        self._container = open_clip(file)
        self._video = self._container.streams.video[0]
        self._video.thread_type = "AUTO"
        if threads:
            self._video.codec_context.thread_count = threads
        self.time_base: Fraction = self._video.time_base or Fraction(1, 1000)
        self.audio_stream = self._container.streams.audio[0] if keep_audio else None
        streams = [self._video] + ([self.audio_stream] if self.audio_stream is not None else [])
        self._packets = self._container.demux(*streams)
        self._decoded: deque[av.VideoFrame] = deque()
        self.audio: deque[av.Packet] = deque()
        self._count = 0
        self._last_pts: int | None = None
        self._step = self._frame_step()
        self._done = False

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        """Blocking (decodes): call it from a worker thread."""
        try:
            while not self._decoded:
                if self._done:
                    raise StopIteration
                self._read_packet()
            frame = self._decoded.popleft()
        except READ_ERRORS as exc:
            raise ClipReadError(f"frame {self._count} could not be decoded: {exc}") from None
        if self._count >= self.info.frames:
            # The scan counted packets; a stream decoding to more frames than that is not what was
            # checked against the limits.
            raise ClipReadError(f"the clip decodes to more frames than the {self.info.frames} it declares")
        return self._to_frame(frame)

    def close(self) -> None:
        self._container.close()

    def _read_packet(self) -> None:
        packet = next(self._packets, None)
        if packet is None:
            self._done = True
            return
        if packet.stream is self.audio_stream:
            if packet.size and packet.dts is not None:
                self.audio.append(packet)
            return
        # The empty packets demux yields at the end flush the decoder's delayed frames.
        self._decoded.extend(self._video.decode(packet))

    def _to_frame(self, decoded: av.VideoFrame) -> Frame:
        # Reformatting to the probed size also guards against a mid-stream resolution change, which
        # would otherwise break the encoder (and dodge the per-frame pixel limit).
        rgb = decoded.reformat(width=self.info.width, height=self.info.height, format="rgb24").to_ndarray()
        pts = decoded.pts if decoded.pts is not None else self._count * self._step
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the encoder needs strictly increasing timestamps
        self._last_pts = pts
        frame = Frame(self._count, np.ascontiguousarray(rgb), pts, self.time_base)
        self._count += 1
        return frame

    def _frame_step(self) -> int:
        """Timestamps for frames that carry none: one frame period in the stream's time base."""
        rate = self._video.average_rate or self._video.guessed_rate or Fraction(25)
        return max(1, round(1 / (rate * self.time_base)))
