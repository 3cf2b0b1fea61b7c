"""The siglip base objective: the formula, composition with the cyclic terms, the registry."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cyclip.losses import (
    BASE_OBJECTIVES,
    CyCLIPLoss,
    SigmoidLoss,
    base_objective,
    crossmodal_cyclic_loss,
    inmodal_cyclic_loss,
    loss_names,
    sigmoid_loss,
)
from cyclip.train.config import LOSS_NAMES


def batch(n: int = 12, d: int = 6, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    i = F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)
    t = F.normalize(i + torch.randn(n, d, generator=g, dtype=dtype), dim=-1)
    return i, t


def transcription(i, t, scale, bias):
    """The paper's formula, written out: −(1/N) Σ_ij log σ(z_ij (s x_i·y_j + b))."""
    n = i.shape[0]
    total = 0.0
    for a in range(n):
        for b in range(n):
            z = 1.0 if a == b else -1.0
            total = total - F.logsigmoid(z * (scale * (i[a] @ t[b]) + bias))
    return total / n


def test_sigmoid_loss_matches_the_formula_in_value_and_gradient():
    i, t = batch(dtype=torch.float64)
    leaves = [x.clone().requires_grad_() for x in (i, t, torch.tensor(10.0, dtype=torch.float64))]
    bias = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    got = sigmoid_loss(*leaves, bias)
    ref_leaves = [x.detach().clone().requires_grad_() for x in (*leaves, bias)]
    ref = transcription(*ref_leaves)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    got.backward()
    ref.backward()
    for a, b in zip((*leaves, bias), ref_leaves):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)


def test_siglip_init_is_open_clips_log10_and_minus10():
    siglip = BASE_OBJECTIVES["siglip"]
    assert siglip.init_logit_scale == pytest.approx(math.log(10)) and siglip.init_logit_bias == -10
    clip = BASE_OBJECTIVES["clip"]
    assert clip.init_logit_scale is None and clip.init_logit_bias is None


def test_cyclic_terms_add_to_siglip_unchanged():
    i, t = batch()
    s, b = torch.tensor(10.0), torch.tensor(-10.0)
    terms = CyCLIPLoss(0.25, 0.5, objective="siglip")(i, t, s, logit_bias=b, output_dict=True)
    assert set(terms) == {"contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss"}
    torch.testing.assert_close(terms["contrastive_loss"], sigmoid_loss(i, t, s, b))
    clip_terms = CyCLIPLoss(0.25, 0.5)(i, t, s, output_dict=True)
    for key in ("inmodal_cyclic_loss", "crossmodal_cyclic_loss"):
        assert torch.equal(terms[key], clip_terms[key])  # the same regulariser on either base
    torch.testing.assert_close(terms["inmodal_cyclic_loss"], 0.25 * inmodal_cyclic_loss(i, t))
    torch.testing.assert_close(terms["crossmodal_cyclic_loss"], 0.5 * crossmodal_cyclic_loss(i, t))
    only = SigmoidLoss()(i, t, s, logit_bias=b, output_dict=True)
    assert list(only) == ["contrastive_loss"]


def test_siglip_term_under_bf16_autocast_is_computed_in_fp32():
    i, t = batch()
    s, b = torch.tensor(10.0), torch.tensor(-10.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = SigmoidLoss()(i.bfloat16(), t.bfloat16(), s, logit_bias=b)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, sigmoid_loss(i.bfloat16().float(), t.bfloat16().float(), s, b))


def test_missing_or_unwanted_bias_is_refused_with_the_fix():
    i, t = batch()
    with pytest.raises(ValueError, match="init_logit_bias"):
        SigmoidLoss()(i, t, torch.tensor(10.0))
    with pytest.raises(ValueError, match="--loss.name siglip"):
        CyCLIPLoss()(i, t, torch.tensor(10.0), logit_bias=torch.tensor(-10.0))
    with pytest.raises(ValueError, match="dist_impl must be one of bidir, shift, reduce, gather"):
        SigmoidLoss(dist_impl="ring")  # type: ignore[arg-type]


def test_registry_gives_the_legal_loss_names():
    assert loss_names() == ("clip", "cyclip", "siglip", "cy-siglip") == LOSS_NAMES
    assert base_objective("cy-siglip") is base_objective("siglip") is BASE_OBJECTIVES["siglip"]
    assert base_objective("cyclip").name == "clip"
    with pytest.raises(ValueError, match="unknown loss name 'cloob'; known: clip, cyclip, siglip"):
        base_objective("cloob")
    with pytest.raises(ValueError, match="unknown objective 'cloob'; known: clip, siglip"):
        CyCLIPLoss(objective="cloob")
