"""The output clip: VP9 in WebM, written to memory and handed out chunk by chunk as frames are
encoded, so the response streams and memory stays flat whatever the clip's length.

Why WebM/VP9 for every output: VP9 carries alpha (yuva420p; Chrome, Firefox and FFmpeg's libvpx
decoder read it), libvpx is BSD-licensed (H.264 would mean GPL x264; see docs/video-licensing.md),
and Matroska streams: with `live` the muxer never seeks back to patch sizes or write an index at
the end, as MP4 must for its moov atom, so every byte can be sent as soon as it is written.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from typing import cast

import av
import numpy as np
import numpy.typing as npt

# Speed over size: realtime deadline, fastest preset, constant quality (crf, no bitrate cap), no
# look-ahead (lag-in-frames 0: a frame's packet comes out as soon as it is encoded, the encoder holds
# no queue of frames).
_VP9_OPTIONS = {
    "deadline": "realtime",
    "cpu-used": "8",
    "crf": "18",
    "b": "0",
    "row-mt": "1",
    "lag-in-frames": "0",
}
# live: no seeking back (no cues, no duration patch); clusters of at most a second keep chunks small.
_WEBM_OPTIONS = {"live": "1", "cluster_time_limit": "1000"}


class _Chunks:
    """A write-only file object: the muxer writes here, `take` empties it. It has no `seek`, so
    FFmpeg treats the output as a non-seekable stream."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class WebmWriter:
    def __init__(
        self,
        width: int,
        height: int,
        time_base: Fraction,
        *,
        alpha: bool,
        audio: av.AudioStream | None = None,
        threads: int = 0,
    ) -> None:
        self._sink = _Chunks()
        self._out = av.open(self._sink, mode="w", format="webm", options=_WEBM_OPTIONS)
        # cast: PyAV's stubs type add_stream's result per version (a plain Stream in 16.x).
        self._video = cast(av.VideoStream, self._out.add_stream("libvpx-vp9"))
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuva420p" if alpha else "yuv420p"
        # The input's time base, so frame timestamps go through unchanged (WebM then stores them in
        # milliseconds, its fixed resolution).
        self._video.codec_context.time_base = time_base
        self._video.time_base = time_base
        self._video.codec_context.options = dict(_VP9_OPTIONS)
        if threads:
            self._video.codec_context.thread_count = threads
        self._audio = self._out.add_stream_from_template(audio) if audio is not None else None
        self._time_base = time_base

    def write_frame(self, pixels: npt.NDArray[np.uint8], pixel_format: str, pts: int) -> bytes:
        """Encode one frame (`pixel_format`: rgb24, rgba or gray); returns the bytes muxed so far."""
        frame = av.VideoFrame.from_ndarray(pixels, format=pixel_format)
        frame.pts = pts
        frame.time_base = self._time_base
        for packet in self._video.encode(frame):
            self._out.mux(packet)
        return self._sink.take()

    def write_audio(self, packet: av.Packet) -> None:
        if self._audio is not None:
            packet.stream = self._audio
            self._out.mux(packet)

    def close(self) -> bytes:
        """Flush the encoder and finish the container; returns the last bytes."""
        for packet in self._video.encode(None):
            self._out.mux(packet)
        self._out.close()
        return self._sink.take()

    def abort(self) -> None:
        """Release the encoder when the clip is abandoned part way (nothing more is sent)."""
        with contextlib.suppress(av.FFmpegError):
            self._out.close()
