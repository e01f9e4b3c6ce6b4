"""Decode bombs through the real app: each is a 413 `image_too_large` JSON error, and neither engine
ever sees it. The bombs are built here at their real sizes (bench.bombs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.bombs import gif_screen_bomb, scan_bomb_jpeg, zero_png
from bench.fake_engine import FakeEngine
from service.engines.loader import EngineSet
from tests.apprunner import running_app


def _bombs() -> list[object]:
    return [
        # ~490 KB progressive JPEG, 6000x6600, 4,000 near-empty scans (minutes of libjpeg time).
        pytest.param(lambda: scan_bomb_jpeg(6000, 6600, 4000), "rgba", "decoding bomb", id="jpeg-4000-scans"),
        # 37 bytes: a 1x1 frame on a 6000x6600 screen.
        pytest.param(lambda: gif_screen_bomb(6000, 6600), "rgba", "screen", id="gif-huge-screen"),
        # 40,000,000 x 1: under max_pixels, far over any sane shape.
        pytest.param(lambda: zero_png(40_000_000, 1, colour_type=0), "rgba", "side", id="png-40m-x-1"),
        # An all-zero 39.6 MP PNG (~40 KB): a cut-out of it needs ~4 GB.
        pytest.param(lambda: zero_png(6000, 6600, colour_type=0), "rgba", "MiB", id="png-40mp-zeros"),
    ]


@pytest.mark.parametrize(("build", "output", "why"), _bombs())
async def test_decode_bombs_get_413_before_any_engine_runs(
    build: Callable[[], bytes], output: str, why: str
) -> None:
    modnet, grabcut = FakeEngine("modnet"), FakeEngine("grabcut")
    engines = EngineSet(grabcut=grabcut, modnet=modnet)
    async with running_app(engines=engines) as client:
        r = await client.post(f"/remove-background?output={output}", files={"image": ("x", build())})
        text = (await client.get("/metrics")).text
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "image_too_large"
    assert why in r.json()["error"]["message"]
    assert modnet.batches == [] and grabcut.batches == []
    assert 'bgremove_errors_total{code="image_too_large"} 1.0' in text
