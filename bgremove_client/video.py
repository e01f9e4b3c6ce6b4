"""Videos: the clip is uploaded from disk (streamed, like images), the WebM result is streamed to a
file beside the target and renamed into place when complete, so neither is ever held in memory and
an interrupted download never leaves a file that looks finished."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

VideoOutput = Literal["rgba", "mask", "composite"]
VIDEO_ENDPOINT = "/remove-background/video"
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})


@dataclass(frozen=True)
class VideoProgress:
    """frames: X-Video-Frames, the clip's frame count (the result has as many), None if not sent.
    bytes_received: WebM bytes written so far."""

    frames: int | None
    bytes_received: int


ProgressCallback = Callable[[VideoProgress], None]


@dataclass(frozen=True)
class VideoResult:
    """path: where the WebM was written. engine/model: X-Engine / X-Model. frames, width, height:
    X-Video-Frames / -Width / -Height. audio: X-Audio ("copied (opus)", "dropped (...)", "none")."""

    path: Path
    size_bytes: int
    engine: str
    model: str
    frames: int | None
    width: int | None
    height: int | None
    audio: str
    attempts: int = 1


def video_params(
    *, output: str | None, bg_color: str | None, ofd: bool | None, engine: str | None
) -> dict[str, str]:
    """Query parameters; None leaves the server's default in force."""
    params = {"output": output, "bg_color": bg_color, "engine": engine}
    chosen = {key: value for key, value in params.items() if value is not None}
    if ofd is not None:
        chosen["ofd"] = "true" if ofd else "false"
    return chosen


def receive_video(
    response: httpx.Response,
    target: str | os.PathLike[str],
    attempts: int,
    on_progress: ProgressCallback | None,
) -> VideoResult:
    """Streams a successful response's body to `target` (temp file + rename; parent folders made).
    A stream the server cut short raises httpx.RemoteProtocolError and leaves no file."""
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    headers = response.headers
    frames = _int_or_none(headers.get("x-video-frames"))
    received = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if on_progress is not None:
                on_progress(VideoProgress(frames, 0))
            for chunk in response.iter_bytes():
                fh.write(chunk)
                received += len(chunk)
                if on_progress is not None:
                    on_progress(VideoProgress(frames, received))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return VideoResult(
        path=path,
        size_bytes=received,
        engine=headers.get("x-engine", ""),
        model=headers.get("x-model", ""),
        frames=frames,
        width=_int_or_none(headers.get("x-video-width")),
        height=_int_or_none(headers.get("x-video-height")),
        audio=headers.get("x-audio", ""),
        attempts=attempts,
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
