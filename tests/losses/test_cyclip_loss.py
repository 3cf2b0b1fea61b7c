"""CyCLIPLoss: open_clip contract, weighting, reduction to CLIP, validation, autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cyclip.losses import (
    ClipLoss,
    CyCLIPLoss,
    contrastive_loss,
    crossmodal_cyclic_loss,
    inmodal_cyclic_loss,
)


def batch(n: int = 24, d: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    i = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    t = F.normalize(i + torch.randn(n, d, generator=g), dim=-1)
    return {"image_features": i, "text_features": t, "logit_scale": torch.tensor(10.0)}


def test_terms_sum_to_total_and_are_weighted() -> None:
    out = batch()
    loss = CyCLIPLoss(lambda_inmodal=0.25, lambda_crossmodal=0.5)
    terms = loss(**out, output_dict=True)
    assert set(terms) == {"contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss"}
    i, t = out["image_features"], out["text_features"]
    torch.testing.assert_close(
        terms["contrastive_loss"], contrastive_loss(i, t, out["logit_scale"])
    )
    torch.testing.assert_close(terms["inmodal_cyclic_loss"], 0.25 * inmodal_cyclic_loss(i, t))
    torch.testing.assert_close(terms["crossmodal_cyclic_loss"], 0.5 * crossmodal_cyclic_loss(i, t))
    torch.testing.assert_close(loss(**out), sum(terms.values()))


def test_zero_lambdas_is_exactly_clip() -> None:
    out = batch()
    terms = CyCLIPLoss(0.0, 0.0)(**out, output_dict=True)
    assert list(terms) == ["contrastive_loss"]
    assert torch.equal(terms["contrastive_loss"], ClipLoss()(**out))
    assert torch.equal(
        terms["contrastive_loss"],
        contrastive_loss(out["image_features"], out["text_features"], out["logit_scale"]),
    )


def test_one_sided_variants_drop_the_other_term() -> None:
    out = batch()
    assert set(CyCLIPLoss(0.0, 0.25)(**out, output_dict=True)) == {
        "contrastive_loss",
        "crossmodal_cyclic_loss",
    }
    assert set(CyCLIPLoss(0.25, 0.0)(**out, output_dict=True)) == {
        "contrastive_loss",
        "inmodal_cyclic_loss",
    }


def test_cyclic_terms_send_no_gradient_to_logit_scale() -> None:
    out = batch()
    scale = torch.tensor(10.0, requires_grad=True)
    image = out["image_features"].requires_grad_()
    terms = CyCLIPLoss()(image, out["text_features"], scale, output_dict=True)
    (terms["inmodal_cyclic_loss"] + terms["crossmodal_cyclic_loss"]).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert scale.grad is None


@pytest.mark.parametrize("impl", ["naive", "gram"])
def test_implementations_agree_inside_the_module(impl: str) -> None:
    out = batch(n=40, d=16)
    ref = CyCLIPLoss(implementation="naive")(**out, output_dict=True)
    got = CyCLIPLoss(implementation=impl)(**out, output_dict=True)
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=1e-5, atol=1e-6)


def test_computes_in_float32_under_bf16_autocast() -> None:
    out = batch(n=32, d=16)
    reference = CyCLIPLoss()(
        out["image_features"].bfloat16().float(),
        out["text_features"].bfloat16().float(),
        out["logit_scale"],
        output_dict=True,
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = CyCLIPLoss()(
            out["image_features"].bfloat16(),
            out["text_features"].bfloat16(),
            out["logit_scale"],
            output_dict=True,
        )
    for key, value in terms.items():
        assert value.dtype == torch.float32, key
        torch.testing.assert_close(value, reference[key])


def test_inmodal_augmentation_variant() -> None:
    out = batch()
    g = torch.Generator().manual_seed(5)
    ia = F.normalize(out["image_features"] + 0.1 * torch.randn(24, 8, generator=g), dim=-1)
    ta = F.normalize(out["text_features"] + 0.1 * torch.randn(24, 8, generator=g), dim=-1)
    terms = CyCLIPLoss(0.0, 0.0)(
        **out, output_dict=True, augmented_image_features=ia, augmented_text_features=ta
    )
    s = out["logit_scale"]
    labels = torch.arange(24)
    clip = contrastive_loss(out["image_features"], out["text_features"], s)
    inm = 0.5 * (
        F.cross_entropy(s * out["image_features"] @ ia.T, labels)
        + F.cross_entropy(s * out["text_features"] @ ta.T, labels)
    )
    torch.testing.assert_close(terms["contrastive_loss"], 0.5 * (clip + inm))
    with pytest.raises(ValueError, match="both"):
        CyCLIPLoss()(**out, augmented_image_features=ia)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lambda_inmodal": -0.1}, "lambda_inmodal must be >= 0"),
        ({"lambda_crossmodal": float("nan")}, "lambda_crossmodal"),
        ({"normalization": "sum"}, "normalization"),
        ({"implementation": "fft"}, "implementation"),
    ],
)
def test_constructor_validation(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CyCLIPLoss(**kwargs)


def test_rejects_siglip_bias_and_mismatched_shapes() -> None:
    out = batch()
    with pytest.raises(ValueError, match="SigLIP"):
        CyCLIPLoss()(**out, logit_bias=torch.tensor(0.0))
    with pytest.raises(ValueError, match="same shape"):
        CyCLIPLoss()(out["image_features"], out["text_features"][:-1], out["logit_scale"])
