"""Augmentation and batch planning: shapes, determinism, compositing, validation split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from model.training.augment import AugmentConfig, Source, augment, composite
from model.training.photos import Photo
from model.training.split import choose_val_split
from model.training.training_data import AugmentedPhotos, BatchPlan, parse_category_names


def synthetic_source(height: int = 120, width: int = 90, seed: int = 0) -> Source:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    alpha[30:110, 25:65] = 255
    return Source(image, alpha, image.copy(), (height * 4, width * 4))


def test_composite_keeps_the_person_and_replaces_the_background() -> None:
    fg = np.full((4, 4, 3), 200, np.uint8)
    bg = np.full((4, 4, 3), 10, np.uint8)
    alpha = np.zeros((4, 4), np.float32)
    alpha[:, :2] = 1.0
    alpha[0, 2] = 0.5
    out = composite(fg, fg, alpha, bg)
    assert np.all(out[:, :2] == 200) and np.all(out[1:, 3] == 10) and np.all(out[0, 2] == 105)


def test_augment_is_deterministic_per_seed_and_keeps_label_in_range() -> None:
    sources = [synthetic_source(seed=s) for s in range(3)]
    cfg = AugmentConfig()
    for whole in (True, False):
        first = augment(np.random.default_rng(7), sources, 1, 64, 96, whole, cfg)
        again = augment(np.random.default_rng(7), sources, 1, 64, 96, whole, cfg)
        assert first[0].shape == (64, 96, 3) and first[0].dtype == np.uint8
        assert first[1].shape == (64, 96) and first[1].min() >= 0.0 and first[1].max() <= 1.0
        assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
        assert first[1].max() > 0.5  # the person is in view


def test_batch_plan_is_a_pure_function_of_the_step() -> None:
    sources = [synthetic_source(seed=s) for s in range(4)]
    plan = BatchPlan(sources, 3, 96, 48, 0.5, seed=1, start_step=0, end_step=20)
    resumed = BatchPlan(sources, 3, 96, 48, 0.5, seed=1, start_step=10, end_step=20)
    assert list(plan)[10:] == list(resumed)
    shapes = {(k.height, k.width, k.whole) for batch in plan for k in batch}
    assert (48, 48, False) in shapes  # square crops
    # Whole portraits use the service's input shape for the (4x larger) original: 3:4 portrait.
    assert (128, 96, True) in shapes
    dataset = AugmentedPhotos(sources, seed=1)
    image, alpha = dataset[next(iter(plan))[0]]
    assert image.dtype.is_floating_point is False and image.shape[0] == 3 and alpha.shape[0] == 1


def test_val_split_is_deterministic_and_masked_only(tmp_path: Path) -> None:
    photos = [
        Photo(f"f/{i}", tmp_path / f"{i}.jpg", tmp_path / f"{i}.png" if i % 3 else None) for i in range(90)
    ]
    chosen = choose_val_split(photos, 30)
    assert len(chosen) == 30 and chosen == choose_val_split(list(reversed(photos)), 30)
    masked = {p.key for p in photos if p.mask_path is not None}
    assert set(chosen) <= masked


def test_close_ups_zoomed_out_sit_small_on_the_bottom_edge_over_another_background() -> None:
    # A close-up filling its photo (alpha 1 everywhere but a top margin), zoomed out into a 96 x 96
    # frame: the person covers at most the zoom's share of the frame, touches the bottom edge, and
    # what is around it is another background (composited; the label is 0 there).
    closeup = synthetic_source(seed=5)
    closeup.alpha[:] = 255
    closeup.alpha[:20] = 0
    closeup.image[:] = 250
    closeup.foreground[:] = 250
    closeup.category = "portrait"
    donor = synthetic_source(seed=6)
    cfg = AugmentConfig(closeup_zoom_out_p=1.0, zoom_out=(0.4, 0.5), colour_p=0.0, resample_p=0.0,
                        blur_p=0.0, noise_p=0.0, jpeg_p=0.0)  # fmt: skip
    for seed in range(4):
        image, alpha = augment(np.random.default_rng(seed), [closeup, donor], 0, 96, 96, True, cfg)
        person = alpha > 0.5
        rows, cols = np.nonzero(person)
        assert person[-1].any() and rows.min() > 96 * 0.3  # on the bottom edge, small in the frame
        assert cols.max() - cols.min() + 1 <= 96 * 0.5 + 2  # its short side: at most half the frame
        # The person keeps its pixels; around it is a new background, not the zero border of the warp.
        assert np.all(image[alpha > 0.99] >= 240) and image[alpha == 0].std() > 0


def test_zoom_out_applies_only_to_the_named_categories() -> None:
    # The same close-up, always zoomed when its category is named, never when another one is.
    closeup = synthetic_source(seed=5)
    closeup.alpha[:] = 255
    closeup.category = "portrait"
    donor = synthetic_source(seed=6)
    quiet = AugmentConfig(closeup_zoom_out_p=1.0, zoom_out=(0.4, 0.5), colour_p=0.0, resample_p=0.0,
                          blur_p=0.0, noise_p=0.0, jpeg_p=0.0)  # fmt: skip
    for named, zoomed in ((frozenset({"portrait"}), True), (frozenset({"hair"}), False)):
        cfg = dataclasses.replace(quiet, zoom_out_categories=named)
        for seed in range(3):
            _, alpha = augment(np.random.default_rng(seed), [closeup, donor], 0, 96, 96, True, cfg)
            assert ((alpha > 0.5).mean() < 0.5) == zoomed


def test_category_names_are_checked() -> None:
    assert parse_category_names(" hair, portrait") == {"hair", "portrait"}
    assert parse_category_names("") == frozenset()
    with pytest.raises(ValueError, match="unknown categories"):
        parse_category_names("hair,hat")


def test_a_passer_by_is_pasted_into_the_background_and_stays_out_of_the_label() -> None:
    # Same seed with and without the passer-by: the label and the subject's pixels are the same;
    # the only change is the donor's person (a uniform magenta block) in the background.
    subject = synthetic_source(seed=7)
    donor = synthetic_source(seed=8)
    donor.image[:] = donor.foreground[:] = (255, 0, 255)
    quiet = AugmentConfig(
        swap_background_p=1.0, colour_p=0.0, resample_p=0.0, blur_p=0.0, noise_p=0.0, jpeg_p=0.0
    )
    pasted_somewhere = False
    for seed in range(6):
        plain_image, plain_alpha = augment(
            np.random.default_rng(seed), [subject, donor], 0, 96, 96, True, quiet
        )
        with_passer_by = dataclasses.replace(quiet, passer_by_p=1.0)
        image, alpha = augment(np.random.default_rng(seed), [subject, donor], 0, 96, 96, True, with_passer_by)
        np.testing.assert_array_equal(alpha, plain_alpha)
        np.testing.assert_array_equal(image[alpha > 0.99], plain_image[alpha > 0.99])
        changed = np.abs(image.astype(int) - plain_image.astype(int)).max(axis=2) > 8
        magenta = (image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] > 200)
        pasted_somewhere |= bool((changed & magenta & (alpha == 0)).sum() > 50)
    assert pasted_somewhere
