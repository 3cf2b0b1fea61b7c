"""The optimiser step: exact accumulation, non-finite skipping, clamp, augmented views."""

from __future__ import annotations

import math

import pytest
import torch

from cyclip.losses import CyCLIPLoss, crossmodal_cyclic_loss_naive, inmodal_cyclic_loss_naive
from cyclip.models import create_model
from cyclip.train.loop import TrainStep, cyclic_residuals, forward_features
from cyclip.train.optim import LOGIT_SCALE_MAX, build_optimizer

from .fakes import TensorPairLoader

CPU = torch.device("cpu")


def make_step(
    seed: int = 0, precision: str = "fp32", lr: float = 1e-3, attention_kernel: str = "auto"
) -> TrainStep:
    torch.manual_seed(seed)
    model = create_model("cyclip-tiny").model
    opt = build_optimizer(model, lr=lr, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, device=CPU)
    loss = CyCLIPLoss(lambda_inmodal=0.25, lambda_crossmodal=0.25)
    return TrainStep(
        model,
        model,
        loss,
        opt,
        device=CPU,
        precision=precision,  # type: ignore[arg-type]
        attention_kernel=attention_kernel,  # type: ignore[arg-type]
    )


def batch(n: int = 16, start: int = 0) -> dict:
    loader = TensorPairLoader(64, batch_size=n)
    return {"images": loader.images[start : start + n], "texts": loader.texts[start : start + n]}


def split(b: dict, parts: int) -> list[dict]:
    size = b["images"].shape[0] // parts
    return [{k: v[i * size : (i + 1) * size] for k, v in b.items()} for i in range(parts)]


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_accumulated_gradients_equal_the_large_batch_gradient():
    full = batch(16)
    step = make_step()
    losses_full, _ = step.accumulate_gradients([full])
    g_full = grads(step.raw_model)
    step.optimizer.zero_grad(set_to_none=True)
    losses_acc, _ = step.accumulate_gradients(split(full, 2))
    g_acc = grads(step.raw_model)
    assert set(g_full) == set(g_acc) and "logit_scale" in g_acc
    for name in g_full:
        torch.testing.assert_close(g_acc[name], g_full[name], rtol=1e-4, atol=1e-6, msg=name)
    for key in losses_full:
        assert float(losses_acc[key]) == pytest.approx(float(losses_full[key]), rel=1e-5)


def test_naive_loss_averaging_would_not_match():
    """The property above is not trivially true: averaging micro-batch losses changes the
    gradient (fewer negatives per pair), which is what the feature-cache scheme avoids."""
    full = batch(16)
    step = make_step()
    step.accumulate_gradients([full])
    g_full = grads(step.raw_model)
    step.optimizer.zero_grad(set_to_none=True)
    for mb in split(full, 2):
        feats = forward_features(step.raw_model, mb, CPU)
        (sum(step.loss_fn(**feats, output_dict=True).values()) / 2).backward()
    g_naive = grads(step.raw_model)
    assert not torch.allclose(g_naive["text_projection"], g_full["text_projection"], rtol=1e-3)


def test_nonfinite_loss_skips_the_update_and_leaves_weights_untouched():
    step = make_step()
    before = {n: p.detach().clone() for n, p in step.raw_model.named_parameters()}
    bad = batch(8)
    bad["images"] = torch.full_like(bad["images"], float("nan"))
    result = step([bad], lr=1e-3)
    assert not result.updated and math.isnan(result.losses["loss"])
    for n, p in step.raw_model.named_parameters():
        assert torch.equal(p, before[n]), n
        assert p.grad is None
    assert not step.optimizer.state  # AdamW moments untouched as well
    good = step([batch(8)], lr=1e-3)
    assert good.updated and math.isfinite(good.losses["loss"])
    assert not torch.equal(step.raw_model.text_projection, before["text_projection"])


def test_logit_scale_is_clamped_after_the_update():
    step = make_step()
    with torch.no_grad():
        step.raw_model.logit_scale.fill_(6.0)  # exp(6) = 403 > 100
    step([batch(8)], lr=1e-6)
    assert step.raw_model.logit_scale.item() == pytest.approx(LOGIT_SCALE_MAX)


def test_step_result_reports_terms_that_sum_to_the_total():
    result = make_step()([batch(8)], lr=1e-3)
    terms = {k: v for k, v in result.losses.items() if k != "loss"}
    assert set(terms) == {"contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss"}
    assert sum(terms.values()) == pytest.approx(result.losses["loss"], rel=1e-6)
    assert result.n_samples == 8 and result.updated and result.grad_norm > 0


def test_bf16_autocast_step_keeps_fp32_weights():
    step = make_step(precision="bf16")
    result = step([batch(8)], lr=1e-3)
    assert result.updated and math.isfinite(result.losses["loss"])
    assert all(p.dtype == torch.float32 for p in step.raw_model.parameters())


def test_residuals_match_the_naive_definition_with_mean_normalisation():
    g = torch.Generator().manual_seed(0)
    i = torch.nn.functional.normalize(torch.randn(12, 5, generator=g), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(12, 5, generator=g), dim=-1)
    res = cyclic_residuals(i, t)
    assert res["inmodal_residual"] == pytest.approx(
        float(inmodal_cyclic_loss_naive(i, t, "mean")), rel=1e-5
    )
    assert res["crossmodal_residual"] == pytest.approx(
        float(crossmodal_cyclic_loss_naive(i, t, "mean")), rel=1e-5
    )


def test_augmented_views_are_embedded_in_one_call_and_split_back():
    step = make_step()
    b = batch(8)
    aug = batch(8, start=8)
    b.update(images_aug=aug["images"], texts_aug=aug["texts"])
    feats = forward_features(step.raw_model, b, CPU)
    with torch.no_grad():
        ref = step.raw_model(b["images"], b["texts"])
        ref_aug = step.raw_model(aug["images"], aug["texts"])
    torch.testing.assert_close(feats["image_features"], ref["image_features"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        feats["augmented_text_features"], ref_aug["text_features"], rtol=1e-4, atol=1e-5
    )
    result = step([b], lr=1e-3)
    assert result.updated and result.n_samples == 8
