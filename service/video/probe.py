"""What an uploaded clip is, and whether it is within the limits, decided before a frame is decoded.

Two cheap passes: the container header (dimensions, declared duration and frame count) refuses the
obvious cases at once, then a packet scan (demuxing without decoding: reading, no codec work)
counts the frames and measures the duration for real, because headers can lie and a streamed WebM
has no duration at all.

Only MP4/MOV and Matroska/WebM are opened, by magic bytes and with that demuxer forced: FFmpeg's
probing would otherwise accept playlists (HLS, concat) that make the demuxer open other files or
URLs, which an upload must never be able to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import IO

import av
import av.container

from service.errors import ApiError, ErrorKind

_MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML header: Matroska and WebM
_MP4_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}  # ISO BMFF / QuickTime

# Audio codecs WebM may carry; anything else (AAC from a phone's MP4, ...) is dropped, and said so.
WEBM_AUDIO_CODECS = frozenset({"opus", "vorbis"})

# FFmpeg's own exceptions, plus what a truncated or nonsensical file makes PyAV raise.
READ_ERRORS: tuple[type[Exception], ...] = (av.FFmpegError, ValueError, EOFError, OSError, IndexError)


@dataclass(frozen=True)
class ClipLimits:
    max_duration_s: float
    max_frames: int
    max_pixels: int


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    frames: int  # video packets counted by the scan
    duration_s: float
    video_codec: str
    audio_codec: str | None  # the first audio stream's codec, None without audio

    @property
    def audio_passes_through(self) -> bool:
        return self.audio_codec in WEBM_AUDIO_CODECS

    @property
    def audio_note(self) -> str:
        """The X-Audio header: what became of the input's audio."""
        if self.audio_codec is None:
            return "none"
        if self.audio_passes_through:
            return f"copied ({self.audio_codec})"
        return f"dropped ({self.audio_codec} cannot be carried by WebM)"


def sniff_container(head: bytes) -> str | None:
    if head.startswith(_MATROSKA_MAGIC):
        return "matroska"
    if len(head) >= 8 and head[4:8] in _MP4_TOP_BOXES:
        return "mov"
    return None


def open_clip(file: IO[bytes]) -> av.container.InputContainer:
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    container_format = sniff_container(head)
    if container_format is None:
        raise ApiError(ErrorKind.INVALID_VIDEO, "not a video this service reads (MP4, MOV, WebM or MKV)")
    try:
        return av.open(file, mode="r", format=container_format)
    except READ_ERRORS as exc:
        raise ApiError(ErrorKind.INVALID_VIDEO, f"the video container could not be read: {exc}") from None


def probe_clip(file: IO[bytes], limits: ClipLimits) -> ClipInfo:
    """Raises ApiError (400 invalid_video, 413 video_too_large) for anything not to be processed."""
    container = open_clip(file)
    try:
        if not container.streams.video:
            raise ApiError(ErrorKind.INVALID_VIDEO, "the file has no video stream")
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        if width <= 0 or height <= 0:
            raise ApiError(ErrorKind.INVALID_VIDEO, "the video stream declares no frame size")
        if width * height > limits.max_pixels:
            raise ApiError(
                ErrorKind.VIDEO_TOO_LARGE,
                f"frames of {width}x{height} exceed the limit of {limits.max_pixels} pixels per frame",
            )
        _check_length(_declared_duration(container, video), video.frames, limits)
        frames, duration = _scan(container, video, limits)
        if frames == 0:
            raise ApiError(ErrorKind.INVALID_VIDEO, "the video stream has no frames")
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return ClipInfo(
            width=width,
            height=height,
            frames=frames,
            duration_s=duration,
            video_codec=video.codec_context.name,
            audio_codec=audio,
        )
    except READ_ERRORS as exc:
        raise ApiError(ErrorKind.INVALID_VIDEO, f"the video could not be read: {exc}") from None
    finally:
        container.close()


def _declared_duration(container: av.container.InputContainer, video: av.VideoStream) -> float | None:
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _check_length(duration_s: float | None, frames: int, limits: ClipLimits) -> None:
    if duration_s is not None and duration_s > limits.max_duration_s:
        raise ApiError(
            ErrorKind.VIDEO_TOO_LARGE,
            f"the clip lasts {duration_s:.1f} s; the limit is {limits.max_duration_s:g} s",
        )
    if frames > limits.max_frames:
        raise ApiError(
            ErrorKind.VIDEO_TOO_LARGE, f"the clip has {frames} frames; the limit is {limits.max_frames}"
        )


def _scan(
    container: av.container.InputContainer, video: av.VideoStream, limits: ClipLimits
) -> tuple[int, float]:
    """Count the video packets and measure their time span, stopping as soon as a limit is passed."""
    time_base = video.time_base or Fraction(1, 1000)
    frames, first, end = 0, math.inf, -math.inf
    for packet in container.demux(video):
        if packet.size == 0:  # the flush packet at the end
            continue
        frames += 1
        if packet.pts is not None:
            start = float(packet.pts * time_base)
            first = min(first, start)
            end = max(end, start + float((packet.duration or 0) * time_base))
        _check_length(end - first if frames > 1 else None, frames, limits)
    return frames, max(0.0, end - first) if frames and math.isfinite(first) else 0.0
