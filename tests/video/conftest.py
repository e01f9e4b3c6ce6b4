from __future__ import annotations

import pytest

from service.contract import RGBImage
from tests.video.clips import moving_crop


@pytest.fixture(scope="module")
def frames() -> list[RGBImage]:
    """12 frames of 96x64: a pan across a people photo from ../shared."""
    return moving_crop(frames=12, width=96, height=64)
