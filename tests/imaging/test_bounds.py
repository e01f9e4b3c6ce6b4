"""Header-level limits: the JPEG scan / GIF screen pre-scan, side and aspect guards, the per-request
memory estimate and its cap. Bombs are built here (bench.bombs), never read from disk."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from bench.bombs import gif_screen_bomb, scan_bomb_jpeg, zero_png
from service.errors import ApiError, ErrorKind
from service.imaging import decode as decode_module
from service.imaging.bounds import DecodeLimits, check_shape_and_memory, decode_limits, request_memory_bytes
from service.imaging.decode import decode_image
from service.imaging.options import OutputKind, OutputOptions, Refinement
from tests.apprunner import make_settings
from tests.imaging import samples

MP40 = 40_000_000


def _refusal(data: bytes, limits: DecodeLimits | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        decode_image(data, max_pixels=MP40, limits=limits)
    return caught.value


@pytest.fixture
def pillow_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every Image.open the decoder makes: a pre-scan refusal must come before any."""
    calls: list[str] = []
    real_open = Image.open

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append("open")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(decode_module.Image, "open", spy)
    return calls


def test_thousands_of_jpeg_scans_are_refused_before_pillow_opens_the_file(pillow_opens: list[str]) -> None:
    bomb = scan_bomb_jpeg(64, 64, 4000)  # tiny picture: only the scan count gives it away
    error = _refusal(bomb)
    assert error.kind is ErrorKind.IMAGE_TOO_LARGE
    assert "more than 100 scans" in error.message
    assert pillow_opens == []


def test_jpeg_scans_times_pixels_over_the_budget_are_refused(pillow_opens: list[str]) -> None:
    bomb = scan_bomb_jpeg(1000, 1000, 20)  # 20 scans of 1 MP each: under the count limit
    error = _refusal(bomb, DecodeLimits(max_jpeg_scan_pixels=10_000_000))
    assert error.kind is ErrorKind.IMAGE_TOO_LARGE
    assert "decoded samples" in error.message
    assert pillow_opens == []
    # The same file under the default budget is an ordinary (if odd) progressive JPEG: it decodes.
    assert decode_image(bomb, max_pixels=MP40).rgb.shape == (1000, 1000, 3)


def test_the_scan_budget_counts_subsampled_chroma_at_its_own_size() -> None:
    # libjpeg's 10 scans of a 4:2:0 colour photo: two DC scans over all three components (1.5 x
    # the luma samples each), four luma AC scans (1 x each), four chroma AC scans (0.25 x each):
    # 8 x the luma samples. Counting every component at full size would make it 14 x.
    luma = 512 * 512
    photo = samples.encode(Image.fromarray(samples.gradient(512, 512)), "JPEG", progressive=True)
    decode_image(photo, max_pixels=MP40, limits=DecodeLimits(max_jpeg_scan_pixels=8 * luma))
    error = _refusal(photo, DecodeLimits(max_jpeg_scan_pixels=8 * luma - 1))
    assert error.kind is ErrorKind.IMAGE_TOO_LARGE


def test_jpeg_with_garbage_or_truncation_is_left_to_pillow() -> None:
    photo = samples.encode(Image.fromarray(samples.gradient(64, 48)), "JPEG", progressive=True)
    eoi = photo.rindex(b"\xff\xd9")
    with_garbage = photo[:eoi] + b"junk\x00\x01" + photo[eoi:]
    assert decode_image(with_garbage, max_pixels=MP40).rgb.shape == (48, 64, 3)
    assert _refusal(photo[: len(photo) // 2]).kind is ErrorKind.INVALID_IMAGE


def test_a_tiny_frame_on_a_huge_gif_screen_is_refused(pillow_opens: list[str]) -> None:
    bomb = gif_screen_bomb(6000, 6600)
    assert len(bomb) < 40
    error = _refusal(bomb)
    assert error.kind is ErrorKind.IMAGE_TOO_LARGE
    assert "6000x6600 screen" in error.message
    assert pillow_opens == []


def test_small_gif_screens_and_full_frames_still_decode() -> None:
    assert decode_image(gif_screen_bomb(900, 900), max_pixels=MP40).rgb.shape == (900, 900, 3)
    full = samples.encode(Image.new("P", (1200, 1000)), "GIF")  # frame covers its 1.2 MP screen
    assert decode_image(full, max_pixels=MP40).rgb.shape == (1000, 1200, 3)


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (40_000_000, 1, False),  # the 7.75 GB strip
        (1, 48, True),  # small images of any shape cost nothing
        (1280, 64, True),  # 20 x the 64 px floor
        (1281, 64, False),
        (20_000, 1_000, True),
        (1_000, 20_001, False),  # over max_side
        (6000, 6600, True),
    ],
)
def test_side_and_aspect_ratio_guard(width: int, height: int, ok: bool) -> None:
    limits = DecodeLimits()
    if ok:
        check_shape_and_memory(width, height, limits)
    else:
        with pytest.raises(ApiError) as caught:
            check_shape_and_memory(width, height, limits)
        assert caught.value.kind is ErrorKind.IMAGE_TOO_LARGE


def test_a_40_megapixel_strip_png_is_refused_from_its_header(pillow_opens: list[str]) -> None:
    error = _refusal(zero_png(40_000_000, 1, colour_type=0))
    assert error.kind is ErrorKind.IMAGE_TOO_LARGE
    assert "20000 pixels" in error.message


def test_memory_estimate_grows_with_pixels_and_with_what_is_asked() -> None:
    rgba, mask = OutputOptions(), OutputOptions(output=OutputKind.MASK)
    plain = OutputOptions(decontaminate=False)
    trimap = OutputOptions(refine=Refinement.TRIMAP)
    small, large = request_memory_bytes(1000, 1000, rgba), request_memory_bytes(2000, 1000, rgba)
    assert large > small
    assert request_memory_bytes(3000, 1000, rgba) - large == large - small  # linear in pixels
    assert request_memory_bytes(1000, 1000, mask) <= request_memory_bytes(1000, 1000, plain) < small
    assert small < request_memory_bytes(1000, 1000, trimap)
    # Foreground estimation dominates: decontamination costs several times the rest.
    assert request_memory_bytes(4000, 4000, rgba) > 3 * request_memory_bytes(4000, 4000, plain)


def test_default_memory_cap_admits_phone_photos_and_refuses_40_mp_cutouts() -> None:
    settings = make_settings()
    rgba, mask = OutputOptions(), OutputOptions(output=OutputKind.MASK)
    check_shape_and_memory(4000, 3000, decode_limits(settings, rgba))  # 12 MP cut-out
    check_shape_and_memory(6000, 6600, decode_limits(settings, mask))  # 40 MP mask
    with pytest.raises(ApiError) as caught:
        check_shape_and_memory(6000, 6600, decode_limits(settings, rgba))
    assert "MiB" in caught.value.message and "output=rgba" in caught.value.message


def test_a_global_memory_budget_caps_the_per_request_cap() -> None:
    options = OutputOptions()
    needed = request_memory_bytes(2000, 1500, options)
    roomy = decode_limits(make_settings(max_request_memory_mb=4096), options)
    check_shape_and_memory(2000, 1500, roomy)
    budget_mb = needed // (1024 * 1024) - 1
    tight = decode_limits(make_settings(max_request_memory_mb=4096, memory_budget_mb=budget_mb), options)
    assert tight.max_request_bytes == budget_mb * 1024 * 1024
    with pytest.raises(ApiError):
        check_shape_and_memory(2000, 1500, tight)
