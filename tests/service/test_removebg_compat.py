"""remove.bg compatibility, parameter by parameter, from remove.bg's public API reference
(POST /v1.0/removebg): image sources (image_file, image_file_b64, JSON body; image_url refused),
size presets as pixel budgets, type, format, channels, bg_color (hex and names), refused and
ignored parameters, `Accept: application/json`, the X-* headers and the error shape."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from PIL import Image

from bench.fake_engine import FakeEngine
from service.engines.loader import EngineSet
from tests.apprunner import fakes, jpeg_bytes, make_settings, metric, running_app

URL = "/v1.0/removebg"
PHOTO = jpeg_bytes(64, 48)
BIG = jpeg_bytes(1600, 1200)  # 1.92 MP: over the preview and medium budgets, under hd


def _file(data: bytes = PHOTO) -> dict[str, tuple[str, bytes]]:
    return {"image_file": ("p.jpg", data)}


def _errors(r: object) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = r.json()["errors"]  # type: ignore[attr-defined]
    assert errors and all(e["title"] and e["code"] for e in errors)
    return errors


@pytest.mark.parametrize(
    "how", ["multipart_b64", "urlencoded_b64", "json_b64", "json_data_url", "raw_body_no_type"]
)
async def test_every_image_source_but_urls(how: str) -> None:
    b64 = base64.b64encode(PHOTO).decode()
    async with running_app(engines=fakes()) as client:
        if how == "multipart_b64":
            r = await client.post(URL, files={"image_file_b64": (None, b64)})  # a text part
        elif how == "urlencoded_b64":
            r = await client.post(URL, data={"image_file_b64": b64, "format": "png"})
        elif how == "raw_body_no_type":
            r = await client.post(URL, content=PHOTO)
        else:
            value = b64 if how == "json_b64" else f"data:image/jpeg;base64,{b64}"
            r = await client.post(URL, json={"image_file_b64": value, "size": "auto", "crop": True})
    assert r.status_code == 200, r.text
    size = Image.open(io.BytesIO(r.content)).size
    assert size == (int(r.headers["x-width"]), int(r.headers["x-height"]))
    # A JSON `true` is read as true: cropped to the fake matte's ellipse.
    assert size == (64, 48) if how.startswith(("multipart", "urlencoded", "raw")) else size < (64, 48)


@pytest.mark.parametrize(
    ("request_kw", "needle"),
    [
        ({"data": {"image_url": "http://169.254.169.254/"}}, "never fetches URLs"),
        ({"json": {"image_url": "https://example.com/a.jpg"}}, "never fetches URLs"),
        ({"data": {"bg_image_url": "https://x/bg.jpg"}, "files": _file()}, "never fetches URLs"),
        ({"files": {**_file(), "bg_image_file": ("bg.jpg", PHOTO)}}, "bg_image_file is not supported"),
        ({"data": {"image_file_b64": "AAAA"}, "files": _file()}, "not both"),
        ({"data": {"size": "giant"}, "files": _file()}, "size must be one of"),
        ({"data": {"type": "spaceship"}, "files": _file()}, "type must be one of"),
        ({"data": {"format": "gif"}, "files": _file()}, "format must be one of"),
        ({"data": {"channels": "cmyk"}, "files": _file()}, "channels must be one of"),
        ({"data": {"bg_color": "notacolour"}, "files": _file()}, "bg_color"),
        ({"data": {"crop_margin": "lots"}, "files": _file()}, "crop_margin"),
        ({"data": {"sizee": "hd"}, "files": _file()}, "unknown parameter 'sizee'"),
        ({"json": {"size": "hd"}}, "image_file_b64"),  # nothing to process: says what to send
    ],
)
async def test_refusals_say_why_in_removebgs_error_shape(request_kw: dict[str, object], needle: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, **request_kw)  # type: ignore[arg-type]
    assert r.status_code == 400, r.text
    assert needle in _errors(r)[0]["title"]


@pytest.mark.parametrize(
    ("size", "budget"),
    [
        *[(None, 250_000), ("preview", 250_000), ("small", 250_000), ("regular", 250_000)],
        *[("medium", 1_500_000), ("hd", None), ("full", None), ("4k", None), ("auto", None), ("50MP", None)],
    ],
)
async def test_size_presets_are_pixel_budgets_of_the_result(size: str | None, budget: int | None) -> None:
    data = {"channels": "alpha"} | ({"size": size} if size else {})
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, data=data, files=_file(BIG))
    assert r.status_code == 200, r.text
    w, h = Image.open(io.BytesIO(r.content)).size
    assert (r.headers["x-width"], r.headers["x-height"]) == (str(w), str(h))
    if budget is None:
        assert (w, h) == (1600, 1200)
    else:
        assert budget * 0.98 < w * h <= budget and abs(w / h - 4 / 3) < 0.01


@pytest.mark.parametrize(
    ("data", "media_type", "mode"),
    [
        ({"format": "auto"}, "image/png", "RGBA"),
        ({"format": "png"}, "image/png", "RGBA"),
        ({"format": "webp"}, "image/webp", "RGBA"),
        ({"format": "jpg"}, "image/jpeg", "RGB"),
        ({"format": "auto", "bg_color": "green"}, "image/jpeg", "RGB"),
        ({"format": "webp", "bg_color": "81d4fa"}, "image/webp", "RGB"),
        ({"channels": "alpha", "format": "jpg"}, "image/jpeg", "L"),
        ({"type": "product", "add_shadow": "true", "semitransparency": "false"}, "image/png", "RGBA"),
    ],
)
async def test_format_channels_and_accepted_flags(data: dict[str, str], media_type: str, mode: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, data=data, files=_file())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(r.content)).mode == mode


@pytest.mark.parametrize(
    ("name", "rgb"), [("green", (0, 128, 0)), ("red", (255, 0, 0)), ("#00f", (0, 0, 255))]
)
async def test_bg_color_names_and_hex(name: str, rgb: tuple[int, int, int]) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, data={"bg_color": name, "format": "png"}, files=_file())
    assert Image.open(io.BytesIO(r.content)).convert("RGB").getpixel((0, 0)) == rgb  # fake matte: 0 there


async def test_zip_holds_color_and_alpha() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, data={"format": "zip"}, files=_file())
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]


async def test_accept_json_answers_result_b64_and_the_foreground_box() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            URL, data={"crop": "true"}, files=_file(), headers={"Accept": "application/json"}
        )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()["data"]
    result = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
    assert result.format == "PNG" and result.size == (int(r.headers["x-width"]), int(r.headers["x-height"]))
    for key in ("top", "left", "width", "height"):
        assert data[f"foreground_{key}"] == int(r.headers[f"x-foreground-{key}"])
    assert (data["foreground_width"], data["foreground_height"]) == result.size  # cropped to it


@pytest.mark.parametrize(("modnet", "kind"), [(True, "person"), (False, "other")])
async def test_x_type_is_person_only_from_the_people_model(modnet: bool, kind: str) -> None:
    engines = fakes() if modnet else EngineSet(grabcut=FakeEngine("grabcut"), modnet=None)
    async with running_app(engines=engines) as client:
        r = await client.post(URL, data={"type": "person"}, files=_file())
    assert r.headers["x-type"] == kind


async def test_auth_size_and_multipart_limits_in_removebgs_shape() -> None:
    settings = make_settings(api_keys=["k"], max_upload_bytes=4096)
    key = {"X-Api-Key": "k"}
    async with running_app(settings, fakes()) as client:
        denied = await client.post(URL, files=_file())
        too_big = await client.post(URL, files=_file(b"\xff\xd8\xff" + bytes(200_000)), headers=key)
        fields = {f"f{i}": "x" for i in range(100)}
        too_many = await client.post(URL, data=fields, files=_file(), headers=key)
        files = {f"f{i}": ("x.jpg", b"x") for i in range(10)}
        many_files = await client.post(URL, files=files, headers=key)
        assert metric(client, "bgremove_errors_total", {"code": "payload_too_large"}) == 1
        assert metric(client, "bgremove_errors_total", {"code": "unauthorized"}) == 1
    assert denied.status_code == 401 and _errors(denied)[0]["code"] == "unauthorized"
    assert too_big.status_code == 413 and _errors(too_big)[0]["code"] == "payload_too_large"
    for r in (too_many, many_files):
        assert r.status_code == 400, r.text
        assert "unreadable form" in _errors(r)[0]["title"]
