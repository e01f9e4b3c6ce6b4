"""Framing (service.imaging.crop) on real photos with remove.bg's own masks as alpha: the crop box holds
the whole person and nothing else, margins are exact in px and %, scale and position put the subject
where remove.bg's parameters say, the region of interest keeps only the subject inside it; and the
option parser refuses bad values with a 400 that names the parameter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from service.errors import ApiError, ErrorKind
from service.imaging.crop import frame_subject, subject_box
from service.imaging.framing_options import (
    ALPHA_THRESHOLD,
    MAX_MARGIN_PX,
    Box,
    FramingOptions,
    Length,
    Margins,
    parse_framing_options,
)
from tests.locations import PEOPLE, require_shared

DATASET = PEOPLE / "segmentation-remove-bg"
PHOTOS = ["102", "101", "10"]  # 612x408, 786x505 with a smaller mask (resized), 275x183


def _photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(require_shared(DATASET / "images" / f"{name}.jpg")) as im:
        rgb = np.asarray(im.convert("RGB"))
    with Image.open(require_shared(DATASET / "masks" / f"{name}.png")) as m:
        mask = m.convert("L").resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.NEAREST)
    return rgb, np.asarray(mask)


@pytest.fixture(params=PHOTOS)
def photo(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    rgb, alpha = _photo(request.param)
    assert 0 < (alpha > 127).mean() < 0.9  # a person, not an empty or full mask
    return rgb, alpha


def _frame(rgb: np.ndarray, alpha: np.ndarray, **params: str) -> tuple[np.ndarray, np.ndarray, Box]:
    framed = frame_subject(rgb, alpha, parse_framing_options(**params))
    box = subject_box(framed.alpha)
    assert box is not None
    return framed.rgb, framed.alpha, box


def test_crop_is_the_tight_box_around_the_whole_person(photo: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, alpha = photo
    out_rgb, out_alpha, box = _frame(rgb, alpha, crop="true")
    # Every subject pixel of the input is in the output, unchanged...
    assert np.count_nonzero(out_alpha > ALPHA_THRESHOLD) == np.count_nonzero(alpha > ALPHA_THRESHOLD)
    assert out_alpha.sum(dtype=np.int64) == alpha.sum(dtype=np.int64)
    # ...and the box is tight: the person touches all four edges of the output.
    assert box == Box(0, 0, out_alpha.shape[1], out_alpha.shape[0])
    rows, cols = np.nonzero(alpha > ALPHA_THRESHOLD)
    top, left = rows.min(), cols.min()
    np.testing.assert_array_equal(out_rgb, rgb[top : top + out_rgb.shape[0], left : left + out_rgb.shape[1]])


def test_margins_in_px_are_exact(photo: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, alpha = photo
    _, tight, _ = _frame(rgb, alpha, crop="true")
    h, w = tight.shape
    _, out, box = _frame(rgb, alpha, crop="true", crop_margin="30px")
    assert out.shape == (h + 60, w + 60)
    assert box == Box(30, 30, 30 + w, 30 + h)
    np.testing.assert_array_equal(out[30 : 30 + h, 30 : 30 + w], tight)
    # CSS order for four values: top, right, bottom, left.
    _, out4, box4 = _frame(rgb, alpha, crop="true", crop_margin="10px 20px 30px 40px")
    assert out4.shape == (h + 10 + 30, w + 20 + 40)
    assert box4 == Box(40, 10, 40 + w, 10 + h)


def test_margins_in_percent_are_of_the_subject_box(photo: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, alpha = photo
    _, tight, _ = _frame(rgb, alpha, crop="true")
    h, w = tight.shape
    _, out, box = _frame(rgb, alpha, crop="true", crop_margin="10% 25%")  # top/bottom, left/right
    vertical, horizontal = round(0.10 * h), round(0.25 * w)
    assert out.shape == (h + 2 * vertical, w + 2 * horizontal)
    assert box == Box(horizontal, vertical, horizontal + w, vertical + h)


def test_margins_are_clamped_to_remove_bgs_maximum() -> None:
    rgb, alpha = _photo(PHOTOS[0])
    _, tight, _ = _frame(rgb, alpha, crop="true")
    h, w = tight.shape
    _, px, _ = _frame(rgb, alpha, crop="true", crop_margin="900px")
    assert px.shape == (h + 2 * MAX_MARGIN_PX, w + 2 * MAX_MARGIN_PX)
    _, pct, _ = _frame(rgb, alpha, crop="true", crop_margin="80%")
    assert pct.shape == (h + 2 * round(0.5 * h), w + 2 * round(0.5 * w))


def test_margin_has_no_effect_without_crop() -> None:
    rgb, alpha = _photo(PHOTOS[0])
    framed = frame_subject(rgb, alpha, parse_framing_options(crop_margin="30px"))
    assert framed.rgb is rgb and framed.alpha is alpha


@pytest.mark.parametrize("scale", ["50%", "100%", "10%"])
def test_scale_fills_that_fraction_of_the_canvas_centred(
    photo: tuple[np.ndarray, np.ndarray], scale: str
) -> None:
    rgb, alpha = photo
    original = subject_box(alpha)
    assert original is not None
    _, out, box = _frame(rgb, alpha, scale=scale)
    height, width = alpha.shape
    assert out.shape == (height, width)  # no crop: the canvas is the image
    fraction = float(scale.rstrip("%")) / 100
    fill = max(box.width / width, box.height / height)
    assert abs(fill - fraction) <= 2 / min(width, height)  # the limiting side fills it (+-1 px)
    factor = fraction * min(width / original.width, height / original.height)
    assert abs(box.width - original.width * factor) <= 2  # aspect kept (+-1 px of resampling
    assert abs(box.height - original.height * factor) <= 2  # blur each side)
    # scale implies position=center
    assert abs((box.left + box.right) - width) <= 2 and abs((box.top + box.bottom) - height) <= 2


def test_scale_keeps_the_subject_whole_and_its_colours() -> None:
    rgb, alpha = _photo(PHOTOS[0])
    out_rgb, out_alpha, box = _frame(rgb, alpha, scale="50%")
    inside = out_alpha > 200  # solidly subject after resampling
    before = rgb[alpha > 200].mean(axis=0)
    after = out_rgb[inside].mean(axis=0)
    assert np.abs(after - before).max() < 6  # premultiplied resampling: no dark fringe drift
    # area: scaled by the same factor squared (mask area is preserved up to edge resampling)
    original = subject_box(alpha)
    assert original is not None
    factor = box.width / original.width
    ratio = (out_alpha.astype(np.float64).sum() / 255) / ((alpha.astype(np.float64).sum() / 255) * factor**2)
    assert 0.95 < ratio < 1.05


@pytest.mark.parametrize(
    ("position", "expect"),
    [("0% 0%", "top-left"), ("100% 100%", "bottom-right"), ("0% 100%", "bottom-left"), ("center", "centre")],
)
def test_position_places_the_subject(
    photo: tuple[np.ndarray, np.ndarray], position: str, expect: str
) -> None:
    rgb, alpha = photo
    original = subject_box(alpha)
    assert original is not None
    out_rgb, _, box = _frame(rgb, alpha, position=position)
    height, width = alpha.shape
    assert (box.width, box.height) == (original.width, original.height)  # not resized
    expected_left = {"top-left": 0, "bottom-left": 0, "bottom-right": width - box.width}
    expected_top = {"top-left": 0, "bottom-left": height - box.height, "bottom-right": height - box.height}
    if expect == "centre":
        assert abs(box.left - (width - box.width) / 2) <= 1 and abs(box.top - (height - box.height) / 2) <= 1
    else:
        assert (box.left, box.top) == (expected_left[expect], expected_top[expect])
    # Moved, not changed: the subject's pixels are the original ones.
    moved = out_rgb[box.top : box.bottom, box.left : box.right]
    source = rgb[original.top : original.bottom, original.left : original.right]
    solid = alpha[original.top : original.bottom, original.left : original.right] > ALPHA_THRESHOLD
    np.testing.assert_array_equal(moved[solid], source[solid])


def test_crop_with_scale_and_position_inside_the_cropped_canvas() -> None:
    rgb, alpha = _photo(PHOTOS[0])
    _, tight, _ = _frame(rgb, alpha, crop="true")
    h, w = tight.shape
    _, out, box = _frame(rgb, alpha, crop="true", crop_margin="50px", scale="50%", position="0% 0%")
    assert out.shape == (h + 100, w + 100)
    assert (box.left, box.top) == (0, 0)
    assert abs(max(box.width / (w + 100), box.height / (h + 100)) - 0.5) <= 2 / min(h, w)


def test_position_original_changes_nothing() -> None:
    rgb, alpha = _photo(PHOTOS[0])
    framed = frame_subject(rgb, alpha, parse_framing_options(position="original", scale="original"))
    assert framed.rgb is rgb and framed.alpha is alpha


@pytest.mark.parametrize("roi", ["0% 0% 50% 100%", "HALF_PX"])
def test_roi_keeps_only_the_subject_inside_it(photo: tuple[np.ndarray, np.ndarray], roi: str) -> None:
    rgb, alpha = photo
    height, width = alpha.shape
    half = int(width * 0.5 + 0.5)  # 50%, rounded half up
    if roi == "HALF_PX":
        half = width // 2
        roi = f"0px 0px {half}px {height}px"
    framed = frame_subject(rgb, alpha, parse_framing_options(roi=roi))
    assert not framed.alpha[:, half:].any()  # outside: background
    np.testing.assert_array_equal(framed.alpha[:, :half], alpha[:, :half])  # inside: untouched
    cropped = frame_subject(rgb, alpha, parse_framing_options(roi=roi, crop="true"))
    left_box = subject_box(alpha[:, :half])
    assert left_box is not None
    assert cropped.alpha.shape == (left_box.height, left_box.width)


def test_no_subject_in_the_roi_leaves_the_image_size() -> None:
    rgb, alpha = _photo(PHOTOS[0])
    framed = frame_subject(rgb, alpha, parse_framing_options(roi="0px 0px 1px 1px", crop="true"))
    assert framed.alpha.shape == alpha.shape and framed.subject is None


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"crop": "maybe"}, "crop"),
        ({"crop_margin": "30"}, "crop_margin"),
        ({"crop_margin": "-5px"}, "crop_margin"),
        ({"crop_margin": "1px 2px 3px"}, "crop_margin"),
        ({"crop_margin": "10px " * 60}, "crop_margin"),
        ({"scale": "5%"}, "scale"),
        ({"scale": "150%"}, "scale"),
        ({"scale": "50px"}, "scale"),
        ({"position": "left"}, "position"),
        ({"position": "120% 0%"}, "position"),
        ({"position": "10px 10px"}, "position"),
        ({"roi": "0% 0% 100%"}, "roi"),
        ({"roi": "50% 0% 10% 100%"}, "roi"),
        ({"roi": "0% 0% 200% 100%"}, "roi"),
        ({"roi": "1e9px 0px 2e9px 5px"}, "roi"),
    ],
)
def test_bad_values_are_a_400_naming_the_parameter(params: dict[str, str], name: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_framing_options(**params)
    assert caught.value.kind is ErrorKind.INVALID_PARAMETER
    assert caught.value.message.startswith(f"{name} must be")
    assert len(caught.value.message) < 300  # a hostile value is not echoed in full


def test_parsed_options() -> None:
    options = parse_framing_options(
        crop="TRUE", crop_margin="5% 12px", scale="40%", position="25%", roi="10px 5% 90% 300px"
    )
    assert options == FramingOptions(
        crop=True,
        crop_margin=Margins(Length(5, "%"), Length(12, "px"), Length(5, "%"), Length(12, "px")),
        scale=0.4,
        position=(0.25, 0.25),
        roi=options.roi,
    )
    assert options.roi is not None and options.roi.to_box(200, 400) == Box(10, 20, 180, 300)
    assert parse_framing_options().changes_nothing
    assert parse_framing_options(scale="50%").effective_position == (0.5, 0.5)
