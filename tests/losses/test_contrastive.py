"""The contrastive term: analytic values and agreement with open_clip's ClipLoss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss as OpenClipLoss

from cyclip.losses import augmented_contrastive_loss, contrastive_loss


def test_identical_features_give_log_n() -> None:
    x = F.normalize(torch.ones(10, 4), dim=-1)
    assert contrastive_loss(x, x, torch.tensor(30.0)).item() == pytest.approx(
        math.log(10), rel=1e-6
    )


def test_perfectly_separated_features_approach_zero() -> None:
    x = torch.eye(8)  # orthonormal pairs: positive similarity 1, negatives 0
    assert contrastive_loss(x, x.clone(), torch.tensor(100.0)).item() < 1e-30 + 1e-6
    assert contrastive_loss(x, x.clone(), torch.tensor(1.0)).item() > 0.5


def test_matches_open_clip_cliploss() -> None:
    g = torch.Generator().manual_seed(0)
    i = F.normalize(torch.randn(32, 16, generator=g), dim=-1)
    t = F.normalize(torch.randn(32, 16, generator=g), dim=-1)
    scale = torch.tensor(14.3)
    expected = OpenClipLoss()(i, t, scale)
    torch.testing.assert_close(contrastive_loss(i, t, scale), expected)


def test_augmented_term_is_one_directional_infonce() -> None:
    g = torch.Generator().manual_seed(1)
    x = F.normalize(torch.randn(6, 5, generator=g), dim=-1)
    y = F.normalize(torch.randn(6, 5, generator=g), dim=-1)
    logits = 2.0 * x @ y.T
    expected = -torch.log_softmax(logits, dim=1).diagonal().mean()
    torch.testing.assert_close(augmented_contrastive_loss(x, y, 2.0), expected)
