"""Spies that record which decoders run, so a test can show a hostile file was refused before any of
them started."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PIL import ImageFile


def spy_on(
    monkeypatch: pytest.MonkeyPatch,
    calls: list[str],
    owner: Any,
    attribute: str,
    label: str | Callable[..., str],
) -> None:
    """Replaces `owner.attribute` (a function, method or class) by one that appends `label` (or
    `label(*args)`) to `calls`, then calls the real one."""
    real = getattr(owner, attribute)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(label(*args) if callable(label) else label)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, attribute, spy)


def spy_on_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every Pillow pixel decode ('load (w, h)'); add format-specific spies with `spy_on`."""
    calls: list[str] = []
    spy_on(monkeypatch, calls, ImageFile.ImageFile, "load", lambda image: f"load {image.size}")
    return calls
