"""Video background removal: a clip's frames go through the same engine batchers as photos.

probe (container + limits, before decoding) -> reader (one decoded frame at a time) -> the engine
(frames submitted a few at a time so they batch) -> OFD (one-frame-delay flicker filter) -> render
-> writer (WebM, streamed as frames are encoded). `clip.process_clip` ties them together and takes
the engine as an async `matte_frame` callable, so it does not depend on how the routes reach it.

PyAV (FFmpeg) is an optional dependency (the `video` extra, see docs/video-licensing.md): nothing
here imports it unless `available()` says it is installed.
"""

from __future__ import annotations

import importlib.util


def available() -> bool:
    return importlib.util.find_spec("av") is not None
