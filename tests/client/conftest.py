from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.locations import PEOPLE, require_shared

UNLABELED = PEOPLE / "unlabeled"


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """The real app (fake engines) on a real uvicorn."""
    from tests.client.live_server import build_app, serve  # imports the app only where it is used

    with serve(build_app()) as url:
        yield url


@pytest.fixture
def jpeg_bytes() -> bytes:
    """A small, non-square photo-like JPEG (non-square catches width/height swaps)."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(48, 80, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def jpeg_path(tmp_path: Path, jpeg_bytes: bytes) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes)
    return path


def copy_people_photos(dest: Path, count: int) -> list[Path]:
    """Real photos from ../shared, copied at test time (never into the repo); fails without shared."""
    require_shared(UNLABELED)
    sources = sorted(p for p in UNLABELED.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    # Small files keep the test quick; sorted -> the same photos on every run.
    chosen = sorted(sources, key=lambda p: (p.stat().st_size, p.name))[:count]
    if len(chosen) < count:
        pytest.fail(f"fewer than {count} photos in {UNLABELED}")
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(src, dest / src.name)) for src in chosen]
