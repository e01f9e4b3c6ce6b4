"""Crop to subject, margins, size budgets, region of interest and scale through the real app, on
real photos whose matte is their remove.bg mask, on both endpoints: the crop holds the whole person
(every mask pixel, unchanged), margins are exact in px and %, a composite's margin is bg_color."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.apprunner import running_app
from tests.service.person_photos import PHOTOS, box_of, mask_engines, person_mask, photo_bytes


def _image(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)))


async def _post(path: str, name: str, **params: str) -> tuple[dict[str, str], np.ndarray]:
    field = "image_file" if path == "/v1.0/removebg" else "image"
    async with running_app(engines=mask_engines()) as client:
        r = await client.post(path, data=params, files={field: (f"{name}.jpg", photo_bytes(name))})
    assert r.status_code == 200, r.text
    return dict(r.headers), _image(r.content)


@pytest.mark.parametrize("name", PHOTOS)
async def test_crop_is_the_whole_person_and_nothing_else(name: str) -> None:
    mask = person_mask(name)
    left, top, right, bottom = box_of(mask)
    headers, out = await _post("/remove-background", name, output="mask", crop="true")
    assert out.shape == (bottom - top, right - left)
    # Every pixel of the person (and its soft edge) is there, unchanged: nothing was cut off.
    np.testing.assert_array_equal(out, mask[top:bottom, left:right])
    assert (headers["x-image-width"], headers["x-image-height"]) == (str(right - left), str(bottom - top))


@pytest.mark.parametrize(
    ("margin", "expect"),  # expect(top, right, bottom, left) from the subject box (w, h)
    [
        ("30px", lambda w, h: (30, 30, 30, 30)),
        ("10px 20px 30px 40px", lambda w, h: (10, 20, 30, 40)),
        ("10% 25%", lambda w, h: (round(0.1 * h), round(0.25 * w), round(0.1 * h), round(0.25 * w))),
    ],
)
async def test_removebg_crop_margin_is_exact(margin: str, expect: object) -> None:
    name = PHOTOS[0]
    mask = person_mask(name)
    left, top, right, bottom = box_of(mask)
    w, h = right - left, bottom - top
    mt, mr, mb, ml = expect(w, h)  # type: ignore[operator]
    headers, out = await _post(
        "/v1.0/removebg", name, size="full", channels="alpha", crop="true", crop_margin=margin
    )
    assert out.shape == (h + mt + mb, w + ml + mr)
    assert (headers["x-width"], headers["x-height"]) == (str(w + ml + mr), str(h + mt + mb))
    fg = tuple(headers[f"x-foreground-{k}"] for k in ("top", "left", "width", "height"))
    assert fg == (str(mt), str(ml), str(w), str(h))
    np.testing.assert_array_equal(out[mt : mt + h, ml : ml + w], mask[top:bottom, left:right])
    assert not out[:mt].any() and not out[:, :ml].any()  # the margins are background


async def test_composite_is_laid_on_the_colour_after_framing() -> None:
    _, out = await _post(
        "/remove-background", PHOTOS[0], output="composite", bg_color="red", crop="true", crop_margin="20px"
    )
    assert out.ndim == 3 and out.shape[2] == 3
    assert (out[:20] == (255, 0, 0)).all() and (out[:, :20] == (255, 0, 0)).all()  # margins: red


async def test_size_budget_downscales_the_result() -> None:
    name = "101"  # 786 x 505 = 0.40 MP
    headers, out = await _post("/v1.0/removebg", name, size="preview", channels="alpha", crop="false")
    h, w = out.shape
    assert w * h <= 250_000 and w * h > 240_000  # fills the 0.25 MP budget
    assert abs(w / h - 786 / 505) < 0.01  # aspect kept
    assert (headers["x-width"], headers["x-height"]) == (str(w), str(h))
    # The whole person is still in it: the box scales with the image.
    left, top, right, bottom = box_of(out)
    fx = w / 786
    mleft, mtop, mright, mbottom = box_of(person_mask(name))
    assert abs(left - mleft * fx) <= 2 and abs(right - mright * fx) <= 2
    assert abs(top - mtop * fx) <= 2 and abs(bottom - mbottom * fx) <= 2
    # Our endpoint: full size unless asked; a pixel count is a budget too.
    _, full = await _post("/remove-background", name, output="mask")
    assert full.shape == (505, 786)
    _, small = await _post("/remove-background", name, output="mask", size="40000")
    assert small.shape[0] * small.shape[1] <= 40_000


async def test_roi_keeps_only_the_subject_inside_it() -> None:
    name = PHOTOS[0]
    mask = person_mask(name)
    half = mask.shape[1] // 2
    _, out = await _post("/remove-background", name, output="mask", roi=f"0px 0px {half}px {mask.shape[0]}px")
    assert out.shape == mask.shape
    assert not out[:, half:].any()
    np.testing.assert_array_equal(out[:, :half], mask[:, :half])


async def test_scale_and_position_centre_the_subject() -> None:
    name = PHOTOS[0]
    headers, out = await _post("/v1.0/removebg", name, size="full", channels="alpha", scale="50%")
    assert out.shape == person_mask(name).shape  # no crop: the canvas is the photo
    left, top, right, bottom = box_of(out)
    height, width = out.shape
    assert abs(max((right - left) / width, (bottom - top) / height) - 0.5) <= 0.01
    assert abs((left + right) - width) <= 3 and abs((top + bottom) - height) <= 3
    fg_left, fg_width = int(headers["x-foreground-left"]), int(headers["x-foreground-width"])
    assert abs(fg_left - left) <= 1 and abs(fg_width - (right - left)) <= 2
