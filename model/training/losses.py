"""MODNet's losses (Ke et al. 2020, and the reference trainer):

- semantic: L2 between the 1/16 semantic prediction and the label downsampled to 1/16 and blurred
  (the blur makes the coarse target tolerant of the exact boundary position);
- detail: L1 of the detail prediction, only in the trimap's unknown band;
- matte: L1 plus compositional L1 (|I*a_pred - I*a_gt|), each over the whole image plus 4x more
  inside the band, where the matte is hardest;
- wrong side (ours, off by default): more L1 where the matte falls on the wrong side of 0.5, split
  into lost foreground (the label's person, dropped: arms) and added foreground (background kept:
  ground, walls, bystanders) -- the validation's failure measures, which the averaged L1 above
  barely sees because they cover a few per cent of the pixels;
- SOC: consistency between the sub-objectives on unlabelled photos (see `soc_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def blur3(x: torch.Tensor) -> torch.Tensor:
    """3x3 Gaussian blur (sigma 0.8, OpenCV's default for 3x3) with reflect padding."""
    g = torch.tensor([0.2516, 0.4968, 0.2516], dtype=x.dtype, device=x.device)  # sums to 1
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel, groups=x.shape[1])


def semantic_target(matte: torch.Tensor) -> torch.Tensor:
    """The label (or a prediction) at the semantic branch's 1/16 scale, blurred."""
    return blur3(F.interpolate(matte, scale_factor=1 / 16, mode="bilinear", align_corners=False))


def unknown_band(alpha: torch.Tensor, radius: int) -> torch.Tensor:
    """Trimap unknown region as 0/1: everything not within `radius` px of a confidently known
    pixel's interior, i.e. dilate(soft or edge) -- computed by min/max pooling on device."""
    size = 2 * radius + 1
    fg = (alpha > 0.98).float()
    bg = (alpha < 0.02).float()
    sure_fg = -F.max_pool2d(-fg, size, stride=1, padding=radius)  # erosion
    sure_bg = -F.max_pool2d(-bg, size, stride=1, padding=radius)
    return 1.0 - sure_fg - sure_bg


def band_radius(height: int, width: int) -> int:
    """Band half-width: ~1.5 % of the short side, as in the reference's trimap dilation at 512 px."""
    return max(2, round(0.015 * min(height, width)))


@dataclass
class SupervisedLoss:
    total: torch.Tensor
    semantic: torch.Tensor
    detail: torch.Tensor
    matte: torch.Tensor
    lost: torch.Tensor
    added: torch.Tensor


def wrong_side(pred_matte: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lost, added): mean |pred - gt| over the pixels the label calls person (>= 0.5) and the matte
    does not, and over the pixels the matte calls person and the label does not; averaged over all
    pixels like the band terms, so a photo with a bigger failure weighs more."""
    label_fg = gt >= 0.5
    pred_fg = pred_matte.detach() >= 0.5
    diff = (pred_matte - gt).abs()
    lost = (diff * (label_fg & ~pred_fg).float()).mean()
    added = (diff * (~label_fg & pred_fg).float()).mean()
    return lost, added


def supervised_loss(
    image: torch.Tensor,
    pred_semantic: torch.Tensor,
    pred_detail: torch.Tensor,
    pred_matte: torch.Tensor,
    gt: torch.Tensor,
    semantic_scale: float = 10.0,
    detail_scale: float = 10.0,
    matte_scale: float = 1.0,
    lost_scale: float = 0.0,
    added_scale: float = 0.0,
) -> SupervisedLoss:
    """image: [B,3,H,W] normalised input; predictions and gt [B,1,...] in 0..1 (scales as the
    reference)."""
    pred_semantic, pred_detail, pred_matte = pred_semantic.float(), pred_detail.float(), pred_matte.float()
    band = unknown_band(gt, band_radius(gt.shape[2], gt.shape[3]))

    # As in the reference, band terms are averaged over all pixels (not just the band), which keeps
    # the paper's loss scales balanced whatever the band's size.
    semantic = F.mse_loss(pred_semantic, semantic_target(gt))
    detail = (band * (pred_detail - gt).abs()).mean()

    def whole_plus_band(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        diff = (a - b).abs().mean(dim=1, keepdim=True)
        return diff.mean() + 4.0 * (band * diff).mean()

    matte = whole_plus_band(pred_matte, gt) + whole_plus_band(image * pred_matte, image * gt)
    lost, added = wrong_side(pred_matte, gt)
    total = semantic_scale * semantic + detail_scale * detail + matte_scale * matte
    total = total + lost_scale * lost + added_scale * added
    return SupervisedLoss(total, semantic, detail, matte, lost, added)


def soc_boundaries(pred_semantic: torch.Tensor, pred_matte: torch.Tensor) -> torch.Tensor:
    """The band where the prediction's own foreground changes, as in the reference SOC: where
    dilate(fg) != erode(fg) with a window of 5 % of the mean side; fg = matte > 0.1 and the
    upsampled semantic > 0.1."""
    height, width = pred_matte.shape[2:]
    semantic_fg = F.interpolate((pred_semantic > 0.1).float(), size=(height, width), mode="bilinear")
    fg = (pred_matte > 0.1).float() * semantic_fg
    side = max(3, int((height + width) / 2 * 0.05)) | 1  # odd, so the window is centred
    dilated = F.max_pool2d(fg, side, stride=1, padding=side // 2)
    eroded = -F.max_pool2d(-fg, side, stride=1, padding=side // 2)
    return (dilated != eroded).float()


def soc_loss(
    pred_semantic: torch.Tensor,
    pred_detail: torch.Tensor,
    pred_matte: torch.Tensor,
    backup_detail: torch.Tensor,
    backup_matte: torch.Tensor,
    semantic_scale: float = 100.0,
    detail_scale: float = 1.0,
) -> torch.Tensor:
    """Sub-objective consistency on an unlabelled batch (the reference's soc_adaptation_iter):
    the semantic prediction and the downsampled matte pull toward each other, and in the boundary
    band the detail and matte stay close to a frozen copy of the network (so edges keep the
    detail learnt with labels while the coarse shape adapts)."""
    pred_semantic, pred_detail, pred_matte = pred_semantic.float(), pred_detail.float(), pred_matte.float()
    boundaries = soc_boundaries(pred_semantic.detach(), pred_matte.detach())
    downsampled_matte = semantic_target(pred_matte)
    pseudo_semantic = downsampled_matte.detach()
    pseudo_semantic = pseudo_semantic * (pseudo_semantic > 0.01).float()
    pseudo_matte = pred_semantic.detach()
    pseudo_matte = pseudo_matte * (pseudo_matte > 0.01).float()
    semantic = F.mse_loss(pred_semantic, pseudo_semantic) + F.mse_loss(downsampled_matte, pseudo_matte)

    def band_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        per_image = (boundaries * (a - b.float()).abs()).sum(dim=(1, 2, 3))
        return (per_image / boundaries.sum(dim=(1, 2, 3)).clamp(min=1.0)).mean()

    detail = band_l1(pred_detail, backup_detail) + band_l1(pred_matte, backup_matte)
    return semantic_scale * semantic + detail_scale * detail
