"""The PNG writer for images above fpng's size cap (ISA-L deflate, "Up" filter): exact pixels back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.imaging import png, png_isal


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 7), (9, 1), (37, 53), (37, 53, 3), (2, 3, 3), (41, 29, 4), (1, 1, 4)]
)
def test_output_decodes_to_the_same_pixels(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(len(shape) * 100 + shape[0]).integers(0, 256, shape, dtype=np.uint8)
    data = png_isal.encode(pixels)
    assert data.startswith(png.PNG_SIGNATURE)
    np.testing.assert_array_equal(_decode(data), pixels)


def test_smooth_image_compresses_and_round_trips() -> None:
    yy, xx = np.mgrid[0:300, 0:400]
    pixels = np.dstack([xx % 256, yy % 256, (xx + yy) % 256, np.full_like(xx, 255)]).astype(np.uint8)
    data = png_isal.encode(pixels)
    assert len(data) < pixels.nbytes / 20  # the Up filter turns gradients into runs
    np.testing.assert_array_equal(_decode(data), pixels)


@pytest.mark.parametrize(
    "pixels", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4), np.float32), np.zeros((0, 4, 3), np.uint8)]
)
def test_unsupported_input_is_refused(pixels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        png_isal.encode(pixels)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_encode_png_uses_it_first(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    pixels = np.random.default_rng(5).integers(0, 256, (40, 30, *channels), dtype=np.uint8)
    image = Image.fromarray(pixels, mode)
    data = png.encode_png(image)
    assert data == png_isal.encode(pixels) == png.encode_png(pixels)  # image or array alike
    np.testing.assert_array_equal(_decode(data), pixels)
    monkeypatch.setattr(png_isal, "AVAILABLE", False)  # without isal: another writer
    other = png.encode_png(image)
    assert other != data
    np.testing.assert_array_equal(_decode(other), pixels)


def test_a_failing_writer_falls_back_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = np.random.default_rng(6).integers(0, 256, (20, 10, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA")
    monkeypatch.setattr(png, "FPNG_MAX_PIXELS", 1)  # fpng not allowed either

    def broken(_: np.ndarray) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(png_isal, "encode", broken)
    data = png.encode_png(image)
    assert data == png.encode_png(image, fast=False)
    np.testing.assert_array_equal(_decode(data), pixels)


def test_a_big_image_deflated_in_ranges_by_two_threads_decodes_to_the_same_pixels() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    image = (rng.integers(0, 16, (1100, 700, 4), dtype=np.uint8) * 16).astype(np.uint8)
    assert image.nbytes > 2 * png_isal._MIN_PIECE_BYTES  # several ranges, several deflate streams
    with ThreadPoolExecutor(1) as pool:
        shared = png_isal.encode(image, pool)
    alone = png_isal.encode(image)
    assert shared == alone  # the same ranges whichever thread deflates them
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(shared))), image)
