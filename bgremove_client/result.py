"""The typed result of one call: the bytes plus what the server said about how it made them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

_EXTENSIONS = {
    "image/png": ".png",
    "image/webp": ".webp",
    "image/jpeg": ".jpg",
    "application/zip": ".zip",
}


@dataclass(frozen=True)
class RemovalResult:
    """content:         the response body (an image, or a ZIP of color.jpg + alpha.png for output=zip).
    media_type:      its Content-Type without parameters, e.g. "image/png".
    engine:          X-Engine, the engine that produced the alpha ("modnet" or "grabcut").
    model:           X-Model, the weights name/version ("" when the server sent none).
    processing_ms:   X-Processing-Time-Ms, server-side time, or None when absent.
    fallback_reason: X-Fallback-Reason when MODNet failed and GrabCut served this image, else None.
    attempts:        requests sent, 1 when no retry was needed.
    width, height:   X-Image-Width / X-Image-Height (the result's size), None when absent.
    """

    content: bytes
    media_type: str
    engine: str
    model: str
    processing_ms: float | None
    fallback_reason: str | None = None
    attempts: int = 1
    width: int | None = None
    height: int | None = None

    @property
    def extension(self) -> str:
        """File extension matching the media type (".png", ".webp", ".jpg", ".zip"; ".bin" otherwise)."""
        return _EXTENSIONS.get(self.media_type, ".bin")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the content atomically (temp file + rename), so a crash never leaves a half file
        that a resumed batch would take for a finished one. Creates parent folders."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
