"""The remove.bg-compatible alias: parameter vocabulary, response headers, error shape."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from bench.fake_engine import FakeEngine
from service.engines.loader import EngineSet
from tests.apprunner import jpeg_bytes, make_settings, running_app


def engines() -> EngineSet:
    return EngineSet(grabcut=FakeEngine("grabcut"), modnet=FakeEngine("modnet"))


@pytest.mark.parametrize(
    ("data", "media_type", "mode"),
    [
        ({}, "image/png", "RGBA"),
        ({"format": "png", "size": "full"}, "image/png", "RGBA"),
        ({"format": "jpg"}, "image/jpeg", "RGB"),
        ({"bg_color": "81d4fa"}, "image/jpeg", "RGB"),
        ({"channels": "alpha"}, "image/png", "L"),
    ],
)
async def test_removebg_parameters(data: dict[str, str], media_type: str, mode: str) -> None:
    async with running_app(engines=engines()) as client:
        r = await client.post("/v1.0/removebg", data=data, files={"image_file": ("p.jpg", jpeg_bytes())})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media_type
    assert (r.headers["x-width"], r.headers["x-height"]) == ("64", "48")
    image = Image.open(io.BytesIO(r.content))
    assert image.mode == mode and image.size == (64, 48)


async def test_removebg_background_colour_is_applied() -> None:
    async with running_app(engines=engines()) as client:
        r = await client.post(
            "/v1.0/removebg",
            data={"bg_color": "00ff00", "format": "png"},
            files={"image_file": ("p.jpg", jpeg_bytes())},
        )
    corner = Image.open(io.BytesIO(r.content)).convert("RGB").getpixel((0, 0))
    assert corner == (0, 255, 0)  # the fake matte is 0 in the corners


async def test_removebg_zip() -> None:
    async with running_app(engines=engines()) as client:
        r = await client.post(
            "/v1.0/removebg", data={"format": "zip"}, files={"image_file": ("p.jpg", jpeg_bytes())}
        )
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]


@pytest.mark.parametrize(
    ("data", "files", "status"),
    [
        ({"image_url": "http://169.254.169.254/"}, None, 400),
        ({"size": "giant"}, {"image_file": ("p.jpg", jpeg_bytes())}, 400),
        ({"channels": "cmyk"}, {"image_file": ("p.jpg", jpeg_bytes())}, 400),
        ({}, {"image_file": ("p.jpg", b"garbage")}, 400),
        ({}, {"image": ("p.jpg", jpeg_bytes())}, 400),  # wrong field name for this endpoint
    ],
)
async def test_removebg_errors_use_its_error_shape(
    data: dict[str, str], files: dict[str, tuple[str, bytes]] | None, status: int
) -> None:
    async with running_app(engines=engines()) as client:
        r = await client.post("/v1.0/removebg", data=data, files=files or {"x": ("x.txt", b"x")})
    assert r.status_code == status
    errors = r.json()["errors"]
    assert errors[0]["title"] and errors[0]["code"]


async def test_removebg_honours_api_keys() -> None:
    async with running_app(make_settings(api_keys=["k"]), engines()) as client:
        denied = await client.post("/v1.0/removebg", files={"image_file": ("p.jpg", jpeg_bytes())})
        allowed = await client.post(
            "/v1.0/removebg", files={"image_file": ("p.jpg", jpeg_bytes())}, headers={"X-Api-Key": "k"}
        )
    assert denied.status_code == 401
    assert allowed.status_code == 200
