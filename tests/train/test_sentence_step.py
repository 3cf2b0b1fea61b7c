"""The training step with a SimCSE term: dropout on the sentence rows only, exact accumulation
with per-micro-batch dropout seeds, the text-tower stage, and --model.text-init."""

from __future__ import annotations

import pytest
import torch

from cyclip.losses import CyCLIPLoss, SentenceObjective
from cyclip.models import create_model
from cyclip.models.text_init import load_text_tower, text_parameter_names, text_tower_state
from cyclip.train.loop import TrainStep, forward_features
from cyclip.train.optim import build_optimizer
from cyclip.train.sentence import freeze_all_but_text
from cyclip.train.sentence_views import SentenceRows, draw_seeds, rng_scope

from .fakes import TensorPairLoader

CPU = torch.device("cpu")


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("cyclip-tiny").model


def batch(n: int = 8, start: int = 0, nli: int = 0) -> dict:
    loader = TensorPairLoader(64, batch_size=n)
    out = {"images": loader.images[start : start + n], "texts": loader.texts[start : start + n]}
    if nli:
        out["nli_texts"] = loader.texts[32 + start : 32 + start + 3 * nli]
    return out


def objective(term: str = "unsupervised") -> SentenceObjective:
    return SentenceObjective(CyCLIPLoss(), term, 0.5)


def test_dropout_touches_the_sentence_rows_only():
    model = tiny()
    b = batch()
    rows = SentenceRows(model, objective().sentence_views)
    torch.manual_seed(1)
    feats = forward_features(model, b, CPU, rows)
    # the CLIP rows are those of the same call without the hooks
    plain = model(b["images"], torch.cat([b["texts"]] * 3))["text_features"]
    assert torch.equal(feats["text_features"], plain[:8])
    assert not torch.allclose(feats["sentence_view_a"], feats["sentence_view_b"])
    # in eval mode there is no dropout: both views are the clean caption embedding
    model.eval()
    feats = forward_features(model, b, CPU, rows)
    torch.testing.assert_close(feats["sentence_view_a"], feats["sentence_view_b"])
    torch.testing.assert_close(feats["sentence_view_a"], plain[8:16])


def step_for(model, loss) -> TrainStep:
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, device=CPU)
    return TrainStep(model, model, loss, opt, device=CPU)


@pytest.mark.parametrize("term", ["unsupervised", "supervised"])
def test_accumulation_is_the_whole_batch_gradient_with_the_same_masks(term):
    nli = 3 if term == "supervised" else 0
    micro = [batch(6, 0, nli), batch(6, 6, nli)]
    loss = objective(term)
    model = tiny()
    step = step_for(model, loss)
    torch.manual_seed(5)
    losses, _ = step.accumulate_gradients(micro)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    ref = tiny()  # the reference: both micro-batches with a graph, under the same seeds
    rows = SentenceRows(ref, loss.sentence_views)
    torch.manual_seed(5)
    seeds = draw_seeds(2)
    parts = []
    for mb, seed in zip(micro, seeds):
        with rng_scope(seed, CPU):
            parts.append(forward_features(ref, mb, CPU, rows))
    feats = {k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "logit_scale"}
    ref_losses = loss(**feats, logit_scale=parts[0]["logit_scale"], output_dict=True)
    sum(ref_losses.values()).backward()
    assert "sentence_loss" in losses
    for k in ref_losses:
        torch.testing.assert_close(losses[k], ref_losses[k].detach(), rtol=1e-5, atol=1e-6)
    for n, p in ref.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_no_sentence_term_draws_no_random_number():
    model = tiny()
    step = step_for(model, CyCLIPLoss())
    torch.manual_seed(3)
    step.accumulate_gradients([batch()])
    after = torch.get_rng_state()
    torch.manual_seed(3)
    assert torch.equal(after, torch.get_rng_state())  # the CLIP step draws nothing either


def test_text_stage_trains_the_text_tower_only():
    model = tiny()
    assert freeze_all_but_text(model) > 0
    loss = SentenceObjective(None, "unsupervised", 1.0, text_only=True)
    step = step_for(model, loss)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = step([batch()], 1e-3)
    assert set(result.losses) == {"loss", "sentence_loss"} and result.updated
    text = text_parameter_names(model)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) == (n not in text), n


def test_text_init_moves_the_text_tower_between_models():
    source, target = tiny(1), tiny(2)
    state = text_tower_state(source.state_dict())
    assert state and not any(k.startswith("visual") or k == "logit_scale" for k in state)
    assert load_text_tower(target, state, "src") == len(state)
    for name, value in target.state_dict().items():
        if name in state:
            assert torch.equal(value, source.state_dict()[name]), name
        elif name == "visual.conv1.weight":  # randomly initialised
            assert not torch.equal(value, source.state_dict()[name]), name
    wrong = {**state, "token_embedding.weight": state["token_embedding.weight"][:, :3]}
    with pytest.raises(ValueError, match="does not fit"):
        load_text_tower(target, wrong, "src")
