"""Foreground islands far smaller than the subject are dropped (service.imaging.islands)."""

from __future__ import annotations

import numpy as np

from service.imaging.islands import drop_islands


def matte_with_an_island() -> np.ndarray:
    """A 200 x 300 matte: a subject (100 x 60, soft 4-px rim), a second person a third its size,
    and a speck (8 x 8, 1 % of the subject) with a faint halo, far from both."""
    alpha = np.zeros((200, 300), np.float32)
    alpha[46:154, 96:164] = 0.3  # the subject's soft rim, within the margin (2 % of 200 = 4 px)
    alpha[50:150, 100:160] = 1.0
    alpha[120:170, 220:260] = 1.0  # 2,000 px: a third of the subject's 6,000
    alpha[17:31, 17:31] = 0.2  # the speck's halo, within the margin (4 px) of it
    alpha[20:28, 20:28] = 0.9
    return alpha


def test_a_speck_and_its_halo_go_while_the_subject_its_rim_and_a_second_person_stay() -> None:
    alpha = matte_with_an_island()
    kept = drop_islands(alpha, 0.1)
    assert kept.dtype == np.float32 and kept.shape == alpha.shape
    assert not kept[10:40, 10:40].any()  # speck and halo: gone
    np.testing.assert_array_equal(kept[40:180, 90:270], alpha[40:180, 90:270])  # subject, rim, second
    assert drop_islands(alpha, 0.5)[120:170, 220:260].max() == 0.0  # a higher fraction drops the second


def test_faint_alpha_far_from_a_dropped_speck_and_the_subjects_wide_soft_edge_are_kept() -> None:
    alpha = matte_with_an_island()
    alpha[150:190, 96:164] = 0.25  # wisps hanging 40 px below the subject: beyond any margin
    alpha[5:10, 250:290] = 0.3  # faint haze nowhere near a region
    kept = drop_islands(alpha, 0.1)
    np.testing.assert_array_equal(kept[40:, 40:], alpha[40:, 40:])
    np.testing.assert_array_equal(kept[5:10, 250:290], alpha[5:10, 250:290])
    assert not kept[17:31, 17:31].any()


def test_nothing_to_drop_leaves_the_matte_as_it_is() -> None:
    alpha = matte_with_an_island()
    assert drop_islands(alpha, 0.0) is alpha  # the setting's "off"
    single = np.zeros((50, 50), np.float32)
    single[10:40, 10:40] = 1.0
    assert drop_islands(single, 0.1) is single
    assert drop_islands(np.zeros((50, 50), np.float32), 0.1).max() == 0.0
