"""A client's mistake is a 4xx that says what to do, never a 5xx (in the answer or the metrics):
`curl --data-binary` photos labelled as forms, typos in parameter names, out-of-range numbers,
huge values (echoed back cut), bodies over the upload limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.apprunner import fakes, jpeg_bytes, make_settings, metric, running_app

URL = "/remove-background"
FORM = {"content-type": "application/x-www-form-urlencoded"}  # what curl --data-binary sends


async def _no_5xx(client: object) -> None:
    for status in ("500", "503"):
        assert metric(client, "bgremove_requests_total", {"status": status}) == 0


@pytest.mark.parametrize("path", [URL, "/v1.0/removebg"])
async def test_curl_data_binary_photo_is_processed(path: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(path, content=jpeg_bytes(), headers=FORM)
        await _no_5xx(client)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"&".join(b"f%d=x" % i for i in range(500)), "image/* content type"),  # was "Too many fields"
        (b"output=mask", "multipart field 'image'"),
        (bytes(range(256)) * 4, "multipart field 'image'"),  # binary, but no image's magic bytes
    ],
)
async def test_a_form_without_an_image_is_a_400_saying_what_to_send(body: bytes, needle: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, content=body, headers=FORM)
        await _no_5xx(client)
        assert metric(client, "bgremove_requests_total", {"status": "400"}) == 1
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"outptu": "mask"}, "unknown parameter 'outptu'; accepted: output, format"),
        ({"size": "999999999"}, "size must be one of"),
        ({"size": "-5"}, "size must be one of"),
        ({"crop_margin": "99999999px"}, "crop_margin must be"),
        ({"scale": "500%"}, "scale must be"),
        ({"position": "120%"}, "position must be"),
        ({"roi": "50% 0% 10% 100%"}, "roi must be"),
        ({"crop": "maybe"}, "crop must be"),
        ({"bg_color": "#ff00ff80"}, "bg_color must be"),
    ],
)
async def test_bad_parameters_are_named(params: dict[str, str], needle: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, params=params, files={"image": ("p.jpg", jpeg_bytes())})
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "name", ["output", "format", "bg_color", "engine", "refine", "decontaminate", "size", "roi"]
)
async def test_a_bad_value_is_echoed_cut_to_40_characters(name: str) -> None:
    value = "z" * 5000
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, data={name: value}, files={"image": ("p.jpg", jpeg_bytes())})
    message = r.json()["error"]["message"]
    assert r.status_code == 400 and "z" * 40 + "..." in message and "z" * 41 not in message
    assert len(message) < 400


async def test_unknown_parameter_names_are_cut_too() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(URL, params={"q" * 3000: "1"}, files={"image": ("p.jpg", jpeg_bytes())})
    assert r.status_code == 400 and "q" * 41 not in r.json()["error"]["message"]


@pytest.mark.parametrize("declared", [True, False])
async def test_payload_too_large_is_a_counted_413(declared: bool) -> None:
    body = b"\xff\xd8\xff" + bytes(300_000)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    async with running_app(make_settings(max_upload_bytes=4096), fakes()) as client:
        content = body if declared else chunks()
        r = await client.post(URL, content=content, headers={"content-type": "image/jpeg"})
        assert metric(client, "bgremove_errors_total", {"code": "payload_too_large"}) == 1
        await _no_5xx(client)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
