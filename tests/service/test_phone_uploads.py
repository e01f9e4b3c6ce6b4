"""Phone uploads through the real app (fake engines): a real photo as HEIC (rotated, Display P3) and
as AVIF is served at its displayed size; a HEIC/AVIF bomb gets the usual 413 JSON error."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.apprunner import fakes, make_settings, running_app
from tests.imaging import phone_samples, samples

PHOTO = samples.UNLABELED / "ai-face.jpg"


def _photo() -> Image.Image:
    with Image.open(PHOTO) as im:  # a real photo, made small: this tests the plumbing, not speed
        im.thumbnail((320, 320))
        return im.convert("RGB")


async def test_a_rotated_display_p3_heic_from_a_phone_is_served() -> None:
    photo = _photo()
    data = phone_samples.encode_heic(photo, exif_orientation=6, icc_profile=phone_samples.display_p3_icc())
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            "/remove-background?output=mask", files={"image": ("IMG_0001.HEIC", data, "image/heic")}
        )
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (photo.height, photo.width)  # rotated to display


async def test_an_avif_is_served_as_a_raw_body() -> None:
    photo = _photo()
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            "/remove-background?output=mask",
            content=phone_samples.encode_avif(photo),
            headers={"content-type": "image/avif"},
        )
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == photo.size


@pytest.mark.parametrize("fmt", ["heic", "avif"])
async def test_a_phone_format_bomb_is_413(fmt: str) -> None:
    small = Image.new("RGB", (8, 8))
    data = phone_samples.encode_heic(small) if fmt == "heic" else phone_samples.encode_avif(small)
    bomb = phone_samples.with_ispe(data, 20_000, 20_000)
    async with running_app(make_settings(max_pixels=4_000_000), fakes()) as client:
        r = await client.post("/remove-background", files={"image": (f"x.{fmt}", bomb)})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "image_too_large"
    assert "20000x20000" in r.json()["error"]["message"]
