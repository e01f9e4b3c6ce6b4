"""The photo catalogue over the real ../shared layout (three labelled sets and their encodings), the
per-category validation split, category-balanced sampling and the failure measures."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from model.training.augment import Source
from model.training.data_sources import limited
from model.training.failure_report import (
    CategoryRow,
    added_foreground,
    category_losses,
    category_rows,
    gaps_markdown,
    lost_foreground,
    measure_photos,
    on_image,
    stray_blobs,
    widest_changes,
    widest_gaps,
)
from model.training.hard_examples import MAX_BOOST, boosts, photo_error
from model.training.paths import PEOPLE_DIR, VAL_SPLIT_FILE
from model.training.photos import HAIR, PARSING, PORTRAIT, SCENE, list_photos, read_photo_mask, read_rgb
from model.training.split import CATEGORY_VAL_SIZES, DEFAULT_VAL_SIZE, choose_val_split, read_val_split
from model.training.training_data import BatchPlan, parse_category_values
from model.training.validation import ValPhoto


def test_catalogue_knows_each_set_and_its_mask_encoding() -> None:
    photos = list_photos(PEOPLE_DIR)  # fails without ../shared: CI always has it
    kinds = Counter((p.category, p.mask_path is not None, p.hair_mask_path is not None) for p in photos)
    assert kinds[(SCENE, True, False)] == 250
    assert kinds[(PORTRAIT, True, False)] == 1100 and kinds[(PORTRAIT, False, False)] == 100
    assert kinds[(HAIR, False, True)] == 1050
    portrait = next(p for p in photos if p.category == PORTRAIT and p.mask_path is not None)
    assert portrait.mask_kind == PARSING
    image = read_rgb(portrait.image_path)
    mask = read_photo_mask(portrait, *image.shape[:2])
    assert mask is not None
    # Class ids 1..18 are the person: a close portrait is mostly person, and never all of it.
    assert 0.2 < mask.mean() < 0.98


def test_committed_split_holds_each_category_and_keeps_the_scene_choice() -> None:
    photos = list_photos(PEOPLE_DIR)
    committed = read_val_split(VAL_SPLIT_FILE)
    assert committed == set(choose_val_split(photos))
    category = {p.key: p.category for p in photos}
    counts = Counter(category[key] for key in committed)
    assert counts == {SCENE: DEFAULT_VAL_SIZE, **CATEGORY_VAL_SIZES}


def _source(category: str, masked: bool = True) -> Source:
    image = np.zeros((40, 30, 3), np.uint8)
    return Source(image, np.zeros((40, 30), np.uint8), image, (400, 300), category, masked=masked)


def test_category_weights_set_each_categorys_share_of_samples() -> None:
    sources = [_source(SCENE)] * 10 + [_source(PORTRAIT)] * 90
    plan = BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 400, parse_category_values("scene:0.5,portrait:0.5"))
    picks = [key.index for step in plan for key in step]
    scene_share = sum(index < 10 for index in picks) / len(picks)
    assert 0.42 < scene_share < 0.58  # unweighted it would be 0.10
    with pytest.raises(ValueError):
        parse_category_values("scene=0.5")


def test_teacher_only_photos_are_drawn_less_within_their_category_and_its_share_is_kept() -> None:
    unmasked = [_source(SCENE, masked=False)] * 2 + [_source(PORTRAIT, masked=False)] * 2
    sources = [_source(SCENE)] * 2 + unmasked
    weights = parse_category_values("scene:0.5,portrait:0.5")
    alike = BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 1, weights).probabilities
    assert alike[:4] == pytest.approx([0.125] * 4)
    quarter = BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 1, weights, teacher_only_weight=0.25).probabilities
    assert quarter[0] == pytest.approx(4 * quarter[2]) and quarter[:4].sum() == pytest.approx(0.5)
    never = BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 1, weights, teacher_only_weight=0.0).probabilities
    # The portraits have no masked photo: they keep their share rather than leave nothing to draw.
    assert never[2:4].sum() == 0.0 and never[4:] == pytest.approx([0.25, 0.25])
    with pytest.raises(ValueError, match="teacher_only_weight"):
        BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 1, weights, teacher_only_weight=-1.0)


def test_hard_examples_are_drawn_more_often_within_their_category_only() -> None:
    label = np.zeros((20, 20), np.uint8)
    label[5:15, 5:15] = 255
    right = label.astype(np.float32) / 255.0
    lost_arm = right.copy()
    lost_arm[5:15, 5:9] = 0.0
    assert photo_error(right, label) == 0.0 < photo_error(lost_arm, label)

    errors = np.array([0.1, 0.1, 0.4, 0.2, 0.2, 0.2, np.nan])
    categories = [SCENE, SCENE, SCENE, PORTRAIT, PORTRAIT, PORTRAIT, PORTRAIT]
    mined = boosts(errors, categories, strength=1.0)
    assert mined[2] > mined[0] == mined[1] and mined[3] == mined[4] == mined[5] and mined[6] == 1.0
    assert boosts(np.array([0.0, 0.0, 100.0]), [SCENE] * 3, 10.0)[2] == MAX_BOOST  # capped

    sources = [_source(c) for c in categories]
    weights = parse_category_values("scene:0.5,portrait:0.5")
    plan = BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 1, weights, boost=mined)
    assert plan.probabilities[:3].sum() == pytest.approx(0.5)  # the category's share is kept
    assert plan.probabilities[2] > plan.probabilities[0]
    with pytest.raises(ValueError, match="boost"):
        BatchPlan(sources, 8, 64, 64, 0.5, 0, 0, 1, weights, boost=np.zeros(len(sources)))


def test_category_limits_keep_scene_photos_first_and_cap_the_others() -> None:
    photos = list_photos(PEOPLE_DIR)
    kept = limited(photos, {PORTRAIT: 7, HAIR: 3})
    counts = Counter(p.category for p in kept)
    assert counts[PORTRAIT] == 7 and counts[HAIR] == 3 and counts[SCENE] == 358
    assert kept[0].category == SCENE


def test_failure_measures_see_a_lost_arm_and_a_stray_blob() -> None:
    mask = np.zeros((100, 100), bool)
    mask[20:90, 40:60] = True  # body
    mask[30:40, 60:90] = True  # arm
    alpha = mask.astype(np.float32)
    assert lost_foreground(alpha, mask) == 0.0 and stray_blobs(alpha, mask) == 0.0
    no_arm = alpha.copy()
    no_arm[30:40, 60:90] = 0.0
    assert lost_foreground(no_arm, mask) == pytest.approx(300 / mask.sum())
    blob = alpha.copy()
    blob[0:10, 0:10] = 0.9  # clutter far from the person
    blob[88:95, 45:55] = 1.0  # touches the person: part of it, not a blob
    assert stray_blobs(blob, mask) == pytest.approx(100 / mask.size)


def test_widest_gaps_name_the_photos_that_trail_the_teacher_and_what_fails_there() -> None:
    # Three person photos and a hair photo. The teacher is perfect everywhere; "ours" keeps a
    # bystander on photo b (added foreground, not touching the person) and loses an arm on photo c.
    mask = np.zeros((60, 60), bool)
    mask[10:55, 25:35] = True
    mask[20:25, 35:50] = True  # arm
    photos = [ValPhoto(key, np.zeros((60, 60, 3), np.uint8), mask, None, SCENE) for key in "abc"]
    hair = np.zeros((60, 60), bool)
    hair[:5] = True
    photos.append(ValPhoto("hair", np.zeros((60, 60, 3), np.uint8), None, hair, HAIR))
    perfect = mask.astype(np.float32)
    bystander, armless = perfect.copy(), perfect.copy()
    bystander[30:50, 2:12] = 1.0
    armless[20:25, 35:50] = 0.0
    ours_by_key = {"a": perfect, "b": bystander, "c": armless, "hair": perfect}
    ours = measure_photos(lambda photo: ours_by_key[photo.key], photos)
    teacher = measure_photos(lambda photo: perfect, photos)
    gaps = widest_gaps(ours, teacher, 2)
    assert [gap.key for gap in gaps] == ["b", "c"]  # 200 px added vs 75 lost: b's IoU falls further
    assert gaps[0].ours.added == pytest.approx(200 / mask.size) == added_foreground(bystander, mask)
    assert gaps[0].ours.stray == gaps[0].ours.added  # it does not touch the person
    assert gaps[1].ours.lost == pytest.approx(75 / mask.sum()) and gaps[1].ours.added == 0.0
    assert all(gap.iou_gap > 0 for gap in gaps)
    table = gaps_markdown(gaps)
    assert table.count("\n") == 3 and "| b |" in table and "hair" not in table


def test_widest_changes_list_the_photos_that_moved_most_either_way_against_reference_weights() -> None:
    mask = np.zeros((40, 40), bool)
    mask[5:35, 15:25] = True
    photos = [ValPhoto(key, np.zeros((40, 40, 3), np.uint8), mask, None, SCENE) for key in "abc"]
    perfect = mask.astype(np.float32)
    road, armless = perfect.copy(), perfect.copy()
    road[20:40, 25:40] = 1.0  # b: a region beside the person kept (IoU 300 / 540)
    armless[5:15, 15:25] = 0.0  # c: a third of the person lost (IoU 200 / 300)
    reference = measure_photos(lambda photo: {"a": perfect, "b": perfect, "c": armless}[photo.key], photos)
    ours = measure_photos(lambda photo: {"a": perfect, "b": road, "c": perfect}[photo.key], photos)
    changes = widest_changes(ours, reference, 2)
    # b got worse by 0.44, c better by 0.33, a did not move: both directions, largest first.
    assert [change.key for change in changes] == ["b", "c"]
    assert changes[0].iou_gap > 0 > changes[1].iou_gap
    assert widest_gaps(ours, reference, 2)[1].key == "a"  # the one-sided list would hide c's gain
    table = gaps_markdown(changes, reference="reference")
    assert "IoU reference / ours" in table and "| c | 0.667 / 1.000 |" in table


def test_category_rows_report_hair_kept_and_leave_person_measures_empty_for_hair_photos() -> None:
    hair = np.zeros((50, 50), bool)
    hair[0:10, :] = True
    photo = ValPhoto("figaro/1", np.zeros((50, 50, 3), np.uint8), None, hair, HAIR)
    half = np.zeros((50, 50), np.float32)
    half[0:5, :] = 1.0
    (row,) = category_rows("half", on_image(lambda image: half), [photo])
    assert row.category == HAIR and row.hair == pytest.approx(0.5)
    assert math.isnan(row.iou) and math.isnan(row.lost)


def test_replacing_shipped_weights_needs_a_gain_on_one_measure_and_no_loss_on_the_other() -> None:
    from model.training.validation import Scores

    shipped = Scores(iou=0.8645, mae=0.0389)
    assert Scores(0.8700, 0.0380).improves_on(shipped)
    assert Scores(0.8645, 0.0380).improves_on(shipped)  # same IoU, sharper matte
    assert not Scores(0.8710, 0.0424).improves_on(shipped)  # run c9's step 500: more IoU, softer matte
    assert Scores(0.8710, 0.0424).better_than(shipped)  # what the IoU-first order would have shipped
    assert not shipped.improves_on(shipped)
    # As printed: session 13's five-part mean tied the shipped MAE at four decimals and gained IoU; the
    # unrounded MAE (higher in the sixth decimal) refused it, a digit no table shows.
    candidate, before = Scores(0.89604, 0.032304), Scores(0.89513, 0.032296)
    assert not candidate.improves_on(before)
    assert candidate.as_printed().improves_on(before.as_printed())
    assert not Scores(0.89514, 0.03229).as_printed().improves_on(before.as_printed())  # noise is no gain


def test_an_export_that_loses_any_category_is_named_and_print_noise_is_not() -> None:
    def row(
        category: str, iou: float, mae: float, hair: float = math.nan, lost: float = 0.0, stray: float = 0.0
    ) -> CategoryRow:
        return CategoryRow("m", category, 10, iou, mae, lost, stray, hair, None)

    nan = math.nan
    shipped = [row(SCENE, 0.8834, 0.0349), row(PORTRAIT, 0.9456, 0.0433), row(HAIR, nan, nan, 0.9592)]
    # Run c12's step 200: better scenes, worse portraits and hair.
    c12 = [row(SCENE, 0.8862, 0.0343), row(PORTRAIT, 0.9437, 0.0447), row(HAIR, nan, nan, 0.9477)]
    assert category_losses(c12, shipped) == [
        "portrait IoU 0.9437 vs 0.9456",
        "portrait MAE 0.0447 vs 0.0433",
        "hair hair kept 0.9477 vs 0.9592",
    ]
    # Differences below the printed precision are not losses; a category only one side has is skipped.
    noise = [row(SCENE, 0.88339, 0.03491), row(PORTRAIT, 0.9456, 0.0433), row(HAIR, nan, nan, 0.95919)]
    assert category_losses(noise, shipped) == []
    assert category_losses([row("video", 0.1, 0.9)], shipped) == []
    # A gain in IoU and MAE does not pay for dropping more of the person or keeping more clutter.
    before = [row(SCENE, 0.8918, 0.0326, lost=0.0681, stray=0.0012)]
    mean = [row(SCENE, 0.8951, 0.0323, lost=0.0683, stray=0.0012)]
    assert category_losses(mean, before) == ["scene lost foreground 0.0683 vs 0.0681"]
    cluttered = [row(SCENE, 0.8951, 0.0323, lost=0.0681, stray=0.0015)]
    assert category_losses(cluttered, before) == ["scene stray blobs 0.0015 vs 0.0012"]
