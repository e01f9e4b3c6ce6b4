"""Real clips made in the tests with PyAV: a moving crop over a people photo from ../shared (or any
frames the test gives), in the containers and codecs the endpoint accepts, and their decoding."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.locations import PEOPLE, require_shared

PHOTOS = PEOPLE / "segmentation-remove-bg" / "images"
URL = "/remove-background/video"

U8 = npt.NDArray[np.uint8]


def moving_crop(photo: str = "10.jpg", *, frames: int = 12, width: int = 160, height: int = 120) -> list[U8]:
    """A camera pan: a window sliding across the photo (scaled so the window covers most of it).
    Fails, not skips, without ../shared: the photo is a hard requirement of these tests."""
    image = Image.open(require_shared(PHOTOS / photo)).convert("RGB")
    scale = max(width * 1.25 / image.width, height * 1.1 / image.height)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    span = pixels.shape[1] - width
    return [
        np.ascontiguousarray(pixels[:height, round(span * i / max(frames - 1, 1)) :][:, :width])
        for i in range(frames)
    ]


@dataclass(frozen=True)
class Recipe:
    container: str = "webm"  # webm | mp4 | mov | matroska
    codec: str = "libvpx-vp9"  # libvpx-vp9 | libopenh264 | mpeg4 | ...
    fps: int = 10
    audio: str | None = None  # libopus | aac | None


def encode_clip(frames: list[U8], recipe: Recipe = Recipe(), *, pts: list[int] | None = None) -> bytes:
    """Encode RGB frames; `pts` (in 1/(fps*100) units) lets a test give irregular timestamps."""
    buf = io.BytesIO()
    height, width = frames[0].shape[:2]
    time_base = Fraction(1, recipe.fps * 100)
    with av.open(buf, mode="w", format=recipe.container) as out:
        video = cast(av.VideoStream, out.add_stream(recipe.codec, rate=recipe.fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = time_base
        video.time_base = time_base
        if recipe.codec == "libvpx-vp9":
            video.codec_context.options = {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "0"}
        elif recipe.codec == "libopenh264":
            video.codec_context.bit_rate = 2_000_000
        else:
            video.codec_context.options = {"qscale": "2"}
        audio = cast(av.AudioStream, out.add_stream(recipe.audio, rate=48000)) if recipe.audio else None
        stamps = pts if pts is not None else [i * 100 for i in range(len(frames))]
        for rgb, stamp in zip(frames, stamps, strict=True):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            _write_tone(out, audio, seconds=len(frames) / recipe.fps)
    return buf.getvalue()


def _write_tone(out: av.container.OutputContainer, audio: av.AudioStream, seconds: float) -> None:
    samples_per_frame = audio.codec_context.frame_size or 960
    total = int(48000 * seconds)
    for start in range(0, total, samples_per_frame):
        t = (np.arange(start, start + samples_per_frame) / 48000.0).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2, axis=0), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, start
        for packet in audio.encode(frame):
            out.mux(packet)
    for packet in audio.encode(None):
        out.mux(packet)


@dataclass(frozen=True)
class DecodedClip:
    format_name: str
    codec: str
    seconds: list[float]  # per frame, presentation time
    frames: list[U8]  # RGBA, alpha from the VP9 alpha channel when there is one
    audio_codec: str | None


def decode_clip(data: bytes) -> DecodedClip:
    """Decode with libvpx for VP9 (FFmpeg's native VP9 decoder ignores the alpha channel)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        decoder: Any = (
            av.CodecContext.create("libvpx-vp9", "r")
            if stream.codec_context.name == "vp9"
            else stream.codec_context
        )
        seconds: list[float] = []
        frames: list[U8] = []
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                seconds.append(float(frame.pts * stream.time_base))
                frames.append(frame.to_ndarray(format="rgba"))
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return DecodedClip(container.format.name, stream.codec_context.name, seconds, frames, audio)


def undecodable_clip(frames: int, *, width: int = 64, height: int = 48, fps: int = 10) -> bytes:
    """A well-formed WebM whose VP9 packets are garbage: its header and packet scan are fine, its
    first decode fails. Over a limit, it must be refused as too large, which proves the limit is
    checked before anything is decoded."""
    buf = io.BytesIO()
    time_base = Fraction(1, 1000)
    with av.open(buf, mode="w", format="webm") as out:
        video = cast(av.VideoStream, out.add_stream("libvpx-vp9", rate=fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = time_base
        video.time_base = time_base
        for i in range(frames):
            packet = av.Packet(bytes([7]) * 200)
            packet.stream = video
            packet.pts = packet.dts = i * 1000 // fps
            packet.time_base = time_base
            packet.is_keyframe = True
            out.mux(packet)
    return buf.getvalue()
