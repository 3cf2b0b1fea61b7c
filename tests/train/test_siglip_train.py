"""Training with the siglip objective: exact accumulation, bit-exact resume, the checkpoint's
logit_bias in ``cyclip eval`` and in open_clip, the loss names of the config."""

from __future__ import annotations

import json
import math
import os
import signal

import open_clip
import pytest
import torch

from cyclip.evaluation.load import load_model
from cyclip.losses import CyCLIPLoss
from cyclip.models import create_model
from cyclip.train import train
from cyclip.train.checkpoint import load_checkpoint
from cyclip.train.config_checks import validate
from cyclip.train.loop import TrainStep
from cyclip.train.optim import build_optimizer

from .conftest import tiny_config
from .fakes import TensorPairLoader

CPU = torch.device("cpu")
SIGLIP_INIT = {"init_logit_scale": math.log(10), "init_logit_bias": -10.0}


def siglip_step() -> TrainStep:
    torch.manual_seed(0)
    model = create_model("cyclip-tiny", **SIGLIP_INIT).model
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.98), eps=1e-6, device=CPU)
    loss = CyCLIPLoss(0.25, 0.25, normalization="mean", objective="siglip")
    return TrainStep(model, model, loss, opt, device=CPU)


def test_accumulated_siglip_gradients_equal_the_large_batch_gradient():
    loader = TensorPairLoader(64, batch_size=16)
    full = {"images": loader.images[:16], "texts": loader.texts[:16]}
    halves = [{k: v[i * 8 : (i + 1) * 8] for k, v in full.items()} for i in range(2)]
    step = siglip_step()
    losses_full, _ = step.accumulate_gradients([full])
    g_full = {n: p.grad.clone() for n, p in step.raw_model.named_parameters()}
    step.optimizer.zero_grad(set_to_none=True)
    losses_acc, _ = step.accumulate_gradients(halves)
    g_acc = {n: p.grad.clone() for n, p in step.raw_model.named_parameters()}
    assert {"logit_scale", "logit_bias"} <= set(g_acc)
    for key in losses_full:
        torch.testing.assert_close(losses_acc[key], losses_full[key], rtol=1e-5, atol=1e-6)
    for name in g_full:  # the bias and the scale counted once, not once per micro-batch
        torch.testing.assert_close(g_acc[name], g_full[name], rtol=1e-4, atol=1e-6)


def test_cy_siglip_resume_is_bit_exact_and_the_checkpoint_loads_everywhere(tmp_path):
    sections = {
        "loss": {"name": "cy-siglip", "normalization": "mean"},
        "optim": {"epochs": 1, "warmup_steps": 2, "lr": 1e-3},
        "run": {"deterministic": True, "checkpoint_every": 100, "eval_every": 1},
    }
    reference = train(
        tiny_config(tmp_path, "ref", **sections),
        loader=TensorPairLoader(64, batch_size=8),
        eval_fn=lambda model, step: {},
    )

    def stop_at_3(model, step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return {}

    stopped = train(
        tiny_config(tmp_path, "cut", **sections),
        loader=TensorPairLoader(64, batch_size=8),
        eval_fn=stop_at_3,
    )
    assert stopped.stopped_by == "SIGTERM" and 3 <= stopped.step < 8
    resumed = train(
        tiny_config(
            tmp_path, "cut", **{**sections, "run": {**sections["run"], "resume": "latest"}}
        ),
        loader=TensorPairLoader(64, batch_size=8),
        eval_fn=lambda model, step: {},
    )
    ref, res = load_checkpoint(reference.checkpoint), load_checkpoint(resumed.checkpoint)
    assert ref["step"] == res["step"] == 8
    for name, tensor in ref["state_dict"].items():
        assert torch.equal(tensor, res["state_dict"][name]), name
    lines = [json.loads(x) for x in (resumed.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_lines = [m for m in lines if "loss" in m]
    ref_lines = [
        json.loads(x) for x in (reference.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["loss"] for m in train_lines] == [m["loss"] for m in ref_lines if "loss" in m]
    assert train_lines[0]["logit_bias"] == pytest.approx(-10.0, abs=0.1)
    assert {"contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss"} <= set(
        train_lines[0]
    )

    # the bias trained and is in the checkpoint; the model is rebuilt with it
    bias = ref["state_dict"]["logit_bias"]
    assert bias.item() != -10.0
    assert ref["model_overrides"] == SIGLIP_INIT
    loaded = load_model(reference.checkpoint)
    assert torch.equal(loaded.bundle.model.logit_bias.detach(), bias)
    oc = open_clip.create_model(
        "cyclip-tiny", pretrained=str(reference.checkpoint), **ref["model_overrides"]
    )
    assert torch.equal(oc.logit_bias.detach(), bias)
    x = torch.randn(2, 3, 32, 32)
    oc.eval()
    torch.testing.assert_close(oc.encode_image(x), loaded.bundle.model.encode_image(x))
    # the same weights as an open_clip-style file: cyclip eval builds the bias for it
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": ref["state_dict"]}, plain)
    assert torch.equal(load_model(plain, model="cyclip-tiny").bundle.model.logit_bias, bias)
    weights = load_model(model="cyclip-tiny", pretrained=str(plain)).bundle.model
    assert torch.equal(weights.logit_bias.detach(), bias)


@pytest.mark.parametrize(
    "loss,data,fragment",
    [
        ({"name": "siglip", "lambda_inmodal": 0.25}, {}, "use --loss.name cy-siglip"),
        ({"name": "cloob"}, {}, "must be one of clip, cyclip, siglip, cy-siglip, got 'cloob'"),
        ({"name": "siglip", "local_loss": True}, {}, "--loss.local-loss is an option of the clip"),
        ({"name": "cy-siglip"}, {"inmodal_augment": True}, "defined for the clip objective"),
        ({"name": "siglip", "dist_impl": "ring"}, {}, "--loss.dist-impl must be one of bidir"),
    ],
)
def test_config_checks_name_the_fix(tmp_path, loss, data, fragment):
    cfg = tiny_config(tmp_path, loss=loss, data=data).resolved()
    assert any(fragment in p for p in validate(cfg)), validate(cfg)


def test_siglip_resolves_open_clips_init_and_clip_leaves_the_architecture_alone(tmp_path):
    siglip = tiny_config(tmp_path, loss={"name": "siglip"}).resolved()
    assert siglip.model.overrides() == SIGLIP_INIT
    assert siglip.loss.lambda_inmodal == siglip.loss.lambda_crossmodal == 0.0
    cy = tiny_config(tmp_path, loss={"name": "cy-siglip"}).resolved()
    assert cy.loss.lambda_inmodal == cy.loss.lambda_crossmodal == 0.25
    assert tiny_config(tmp_path, loss={"name": "cyclip"}).resolved().model.overrides() == {}
    mine = tiny_config(tmp_path, loss={"name": "siglip"}, model={"init_logit_bias": -5.0})
    assert mine.resolved().model.init_logit_bias == -5.0
