"""Parameter groups, the warm-up + cosine schedule, and the logit-scale clamp."""

from __future__ import annotations

import math

import pytest
import torch

from cyclip.models import create_model
from cyclip.train.optim import (
    LOGIT_SCALE_MAX,
    build_optimizer,
    clamp_logit_scale,
    fused_available,
    lr_at,
    param_groups,
)


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("cyclip-tiny").model


def test_warmup_starts_at_lr_over_warmup_and_reaches_lr():
    values = [lr_at(s, base_lr=1.0, warmup_steps=4, total_steps=20) for s in range(5)]
    assert values == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_cosine_values_midpoint_end_and_floor():
    kw = dict(base_lr=2.0, warmup_steps=10, total_steps=110, min_lr=0.5)
    assert lr_at(10, **kw) == 2.0
    assert lr_at(60, **kw) == pytest.approx(0.5 + 1.5 * 0.5)  # half-way: cos(pi/2) = 0
    assert lr_at(35, **kw) == pytest.approx(0.5 + 1.5 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(110, **kw) == pytest.approx(0.5)
    assert lr_at(500, **kw) == pytest.approx(0.5)


def test_no_warmup_starts_at_full_lr_and_decays_monotonically():
    values = [lr_at(s, base_lr=1e-3, warmup_steps=0, total_steps=50) for s in range(51)]
    assert values[0] == 1e-3
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.0, abs=1e-12)


def test_no_decay_on_parameters_with_fewer_than_two_dims(tiny_model):
    decay, no_decay = param_groups(tiny_model, weight_decay=0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    named = dict(tiny_model.named_parameters())
    ids = {id(p): n for n, p in named.items()}
    no_decay_names = {ids[id(p)] for p in no_decay["params"]}
    decay_names = {ids[id(p)] for p in decay["params"]}
    assert "logit_scale" in no_decay_names
    assert any(n.endswith("ln_final.weight") for n in no_decay_names)
    assert any(n.endswith(".bias") for n in no_decay_names)
    assert "token_embedding.weight" in decay_names and "text_projection" in decay_names
    assert decay_names.isdisjoint(no_decay_names)
    assert decay_names | no_decay_names == set(named)
    assert all(named[n].ndim >= 2 for n in decay_names)
    assert all(named[n].ndim < 2 for n in no_decay_names)


def test_locked_tower_is_left_out_of_the_optimizer():
    model = create_model("cyclip-tiny").model
    model.lock_image_tower()
    opt = build_optimizer(
        model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, device=torch.device("cpu")
    )
    optimised = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in optimised for p in model.visual.parameters())
    assert all(id(p) in optimised for p in model.transformer.parameters())
    assert opt.defaults["fused"] == fused_available(torch.device("cpu"))


def test_clamp_logit_scale_bounds_to_zero_and_ln100(tiny_model):
    for value, expected in ((7.0, LOGIT_SCALE_MAX), (-1.0, 0.0), (2.0, 2.0)):
        with torch.no_grad():
            tiny_model.logit_scale.fill_(value)
        clamp_logit_scale(tiny_model)
        assert tiny_model.logit_scale.item() == pytest.approx(expected)
    assert math.exp(LOGIT_SCALE_MAX) == pytest.approx(100.0)
