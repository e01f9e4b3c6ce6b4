"""MODNet's supervised and SOC losses on hand-made tensors."""

from __future__ import annotations

import torch

from model.training.losses import (
    semantic_target,
    soc_boundaries,
    soc_loss,
    supervised_loss,
    unknown_band,
    wrong_side,
)


def person_matte(size: int = 64) -> torch.Tensor:
    alpha = torch.zeros(1, 1, size, size)
    alpha[..., 16:48, 20:44] = 1.0
    alpha[..., 16:48, 19] = 0.5  # a soft edge column
    return alpha


def test_unknown_band_covers_the_edges_only() -> None:
    band = unknown_band(person_matte(), radius=2)
    assert band[0, 0, 32, 19] == 1 and band[0, 0, 32, 20] == 1  # soft edge and just inside
    assert band[0, 0, 32, 32] == 0 and band[0, 0, 2, 2] == 0  # deep inside, far outside
    assert set(band.unique().tolist()) <= {0.0, 1.0}


def test_perfect_predictions_cost_nothing_and_errors_cost_more() -> None:
    gt = person_matte()
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    perfect = supervised_loss(image, semantic_target(gt), gt, gt, gt)
    assert perfect.total.item() < 1e-6

    wrong = 1.0 - gt
    bad = supervised_loss(image, semantic_target(wrong), wrong, wrong, gt)
    assert bad.semantic > 0 and bad.detail > 0 and bad.matte > 0
    # The detail loss only looks at the band: errors elsewhere are free for the detail branch.
    off_band = gt.clone()
    off_band[..., 30:34, 30:34] = 0.0  # a hole deep inside, far from the band
    assert supervised_loss(image, semantic_target(gt), off_band, gt, gt).detail.item() < 1e-6


def test_wrong_side_splits_a_lost_arm_from_a_kept_wall() -> None:
    gt = person_matte()
    assert [t.item() for t in wrong_side(gt, gt)] == [0.0, 0.0]

    lost_arm = gt.clone()
    lost_arm[..., 16:24, 20:44] = 0.2  # 8 x 24 person pixels dropped (below 0.5), error 0.8 each
    lost, added = wrong_side(lost_arm, gt)
    assert abs(lost.item() - 8 * 24 * 0.8 / 64**2) < 1e-6 and added.item() == 0.0

    kept_wall = gt.clone()
    kept_wall[..., 0:10, 0:10] = 0.6  # background kept at 0.6; a soft 0.3 haze elsewhere is not counted
    kept_wall[..., 50:60, 0:10] = 0.3
    lost, added = wrong_side(kept_wall, gt)
    assert lost.item() == 0.0 and abs(added.item() - 100 * 0.6 / 64**2) < 1e-6


def test_wrong_side_weights_add_to_the_total_and_pull_the_lost_pixels_up() -> None:
    gt = person_matte()
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    pred = gt.clone()
    pred[..., 16:24, 20:44] = 0.2
    pred.requires_grad_(True)
    plain = supervised_loss(image, semantic_target(gt), gt, pred, gt)
    weighted = supervised_loss(image, semantic_target(gt), gt, pred, gt, lost_scale=10.0, added_scale=5.0)
    assert abs(weighted.total.item() - (plain.total.item() + 10.0 * weighted.lost.item())) < 1e-5
    (grad_plain,) = torch.autograd.grad(plain.total, pred)
    (grad_weighted,) = torch.autograd.grad(weighted.total, pred)
    # Gradient descent raises the dropped pixels faster with the term; pixels on the right side are untouched.
    assert grad_weighted[0, 0, 20, 30] < grad_plain[0, 0, 20, 30] < 0
    assert torch.equal(grad_weighted[..., 40, 30], grad_plain[..., 40, 30])


def test_soc_boundaries_follow_the_predicted_edge() -> None:
    matte = person_matte()
    semantic = semantic_target(matte)
    band = soc_boundaries(semantic, matte)
    assert band[0, 0, 32, 18] == 1 and band[0, 0, 32, 19] == 1  # the soft column is foreground (> 0.1)
    assert band[0, 0, 32, 32] == 0 and band[0, 0, 2, 2] == 0


def test_soc_loss_is_zero_for_a_consistent_prediction_and_has_gradients() -> None:
    matte = person_matte()
    semantic = semantic_target(matte)
    semantic = semantic * (semantic > 0.01).float()  # the pseudo-target's own threshold
    consistent = soc_loss(semantic, matte, matte, matte, matte)
    assert consistent.item() < 1e-3

    pred_matte = (matte * 0.5 + 0.25).requires_grad_(True)
    loss = soc_loss(semantic, matte, pred_matte, matte, matte)
    loss.backward()
    assert loss.item() > consistent.item() and pred_matte.grad is not None
    assert pred_matte.grad.abs().sum() > 0
