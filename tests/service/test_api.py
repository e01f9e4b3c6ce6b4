"""The HTTP API through the real app (in process, lifespan included) with fake engines."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from bench.fake_engine import centre_ellipse
from tests.apprunner import fakes, jpeg_bytes, make_settings, metric, running_app

CASES = [
    ("rgba", "png", "image/png", "RGBA"),
    ("rgba", "webp", "image/webp", "RGBA"),
    ("mask", "png", "image/png", "L"),
    ("mask", "webp", "image/webp", None),
    ("mask", "jpeg", "image/jpeg", "L"),
    ("composite", "png", "image/png", "RGB"),
    ("composite", "webp", "image/webp", "RGB"),
    ("composite", "jpeg", "image/jpeg", "RGB"),
]


@pytest.mark.parametrize(("output", "fmt", "media_type", "mode"), CASES)
async def test_every_output_and_format(output: str, fmt: str, media_type: str, mode: str | None) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            "/remove-background",
            params={"output": output, "format": fmt},
            files={"image": ("p.jpg", jpeg_bytes(), "image/jpeg")},
        )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media_type
    assert r.headers["x-engine"] == "modnet"
    assert r.headers["x-model"] == "fake-modnet-1"
    assert float(r.headers["x-processing-time-ms"]) > 0
    result = Image.open(io.BytesIO(r.content))
    assert result.size == (64, 48)
    if mode is not None:
        assert result.mode == mode


async def test_zip_holds_colour_jpeg_and_alpha_png() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post("/remove-background?output=zip", files={"image": ("p.jpg", jpeg_bytes())})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = Image.open(io.BytesIO(archive.read("color.jpg")))
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    assert colour.format == "JPEG" and colour.size == (64, 48)
    assert alpha.mode == "L" and alpha.size == (64, 48)


async def test_mask_values_are_the_engine_alpha() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post("/remove-background?output=mask", files={"image": ("p.jpg", jpeg_bytes())})
    mask = np.asarray(Image.open(io.BytesIO(r.content)), dtype=np.float32) / 255
    assert np.abs(mask - centre_ellipse(48, 64)).max() <= 1 / 255 + 1e-6


async def test_a_speck_apart_from_the_subject_is_dropped_unless_the_setting_keeps_it() -> None:
    def subject_and_speck(image: np.ndarray) -> np.ndarray:
        alpha = centre_ellipse(*image.shape[:2])
        alpha[2:6, 2:6] = 1.0  # 16 px in a corner, far from the ellipse: under 10 % of it
        return alpha

    masks = {}
    for fraction in (0.1, 0.0):
        settings = make_settings(min_island_fraction=fraction)
        async with running_app(settings, fakes(matte=subject_and_speck)) as client:
            r = await client.post("/remove-background?output=mask", files={"image": ("p.jpg", jpeg_bytes())})
        assert r.status_code == 200
        masks[fraction] = np.asarray(Image.open(io.BytesIO(r.content)))
    assert masks[0.1][2:6, 2:6].max() == 0 and masks[0.0][2:6, 2:6].min() == 255
    np.testing.assert_array_equal(masks[0.1][10:, 10:], masks[0.0][10:, 10:])  # the subject is the same


async def test_raw_body_and_form_field_parameters() -> None:
    async with running_app(engines=fakes()) as client:
        raw = await client.post(
            "/remove-background?output=mask", content=jpeg_bytes(), headers={"content-type": "image/jpeg"}
        )
        form = await client.post(
            "/remove-background",
            data={"output": "composite", "format": "jpeg", "bg_color": "#00ff00"},
            files={"image": ("p.jpg", jpeg_bytes())},
        )
    assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"
    assert form.status_code == 200 and form.headers["content-type"] == "image/jpeg"


async def test_result_has_the_size_after_exif_orientation() -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post(
            "/remove-background?output=mask",
            files={"image": ("p.jpg", jpeg_bytes(64, 48, exif_orientation=6))},
        )
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (48, 64)


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"files": {"image": ("x.jpg", b"not an image", "image/jpeg")}}, 400, "invalid_image"),
        ({"files": {"image": ("x.jpg", b"", "image/jpeg")}}, 400, "invalid_image"),
        (
            {"params": {"output": "banana"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        (
            {"params": {"output": "rgba", "format": "jpeg"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        (
            {"params": {"bg_color": "red!"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        (
            {"params": {"engine": "magic"}, "files": {"image": ("x.jpg", jpeg_bytes())}},
            400,
            "invalid_parameter",
        ),
        ({"files": {"picture": ("x.jpg", jpeg_bytes())}}, 400, "missing_image"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"files": {"image": ("x.txt", jpeg_bytes(), "text/plain")}}, 415, "unsupported_media_type"),
        ({}, 400, "missing_image"),
    ],
)
async def test_bad_requests_get_json_errors(kwargs: dict[str, object], status: int, code: str) -> None:
    async with running_app(engines=fakes()) as client:
        r = await client.post("/remove-background", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"]
        assert metric(client, "bgremove_errors_total", {"code": code}) == 1
        # The server is still fine afterwards.
        ok = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes())})
        assert ok.status_code == 200


async def test_unknown_route_and_method_use_the_error_shape() -> None:
    async with running_app(engines=fakes()) as client:
        missing = await client.get("/nope")
        wrong = await client.get("/remove-background")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_body_over_limit_is_413_before_reading_it_all() -> None:
    settings = make_settings(max_upload_bytes=10_000)
    async with running_app(settings, fakes()) as client:
        declared = await client.post(
            "/remove-background", content=b"\xff" * 200_000, headers={"content-type": "image/jpeg"}
        )

        async def chunks():  # no Content-Length: counted as it streams
            for _ in range(100):
                yield b"\xff" * 4096

        streamed = await client.post(
            "/remove-background", content=chunks(), headers={"content-type": "image/jpeg"}
        )
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"


async def test_pixel_count_over_limit_is_413() -> None:
    settings = make_settings(max_pixels=1000)
    async with running_app(settings, fakes()) as client:
        r = await client.post("/remove-background", files={"image": ("p.jpg", jpeg_bytes(64, 48))})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "image_too_large"
