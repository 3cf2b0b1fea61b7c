"""The collapse alarm: a run stuck at ln N with identical image embeddings says so, once."""

from __future__ import annotations

import math

import pytest
import torch

from cyclip.train import train
from cyclip.train.config import LossConfig, TrainConfig
from cyclip.train.guards import CollapseAlarm
from cyclip.train.loop import mean_pairwise_cosine

from .conftest import tiny_config
from .fakes import TensorPairLoader


def test_mean_pairwise_cosine_is_one_for_identical_rows_and_zero_for_opposite_pairs():
    same = torch.nn.functional.normalize(torch.ones(5, 4), dim=-1)
    assert mean_pairwise_cosine(same) == pytest.approx(1.0)
    basis = torch.eye(4)
    assert mean_pairwise_cosine(basis) == pytest.approx(0.0, abs=1e-7)
    assert mean_pairwise_cosine(torch.stack([basis[0], -basis[0]])) == pytest.approx(-1.0)


def test_alarm_fires_once_after_warm_up_and_only_on_a_sustained_collapse():
    alarm = CollapseAlarm(warmup_steps=2, loss=LossConfig(normalization="paper").resolved())
    stuck = {"contrastive_loss": math.log(256), "image_mean_cosine": 0.999}
    learning = {"contrastive_loss": 0.8 * math.log(256), "image_mean_cosine": 0.999}
    spread = {"contrastive_loss": math.log(256), "image_mean_cosine": 0.5}
    messages = [alarm.update(s, 256, stuck) for s in (1, 2)]  # warm-up: never
    messages += [alarm.update(3, 256, stuck), alarm.update(4, 256, learning)]  # recovered
    messages += [alarm.update(5, 256, stuck), alarm.update(6, 256, spread)]  # not collapsed
    assert messages == [None] * 6
    fired = [alarm.update(s, 256, stuck) for s in (7, 8, 9, 10, 11)]
    assert fired[:2] == [None, None] and fired[3:] == [None, None]
    assert fired[2] is not None and "\n" not in fired[2]
    assert "ln 256" in fired[2] and "--loss.normalization paper" in fired[2]


@pytest.mark.parametrize(
    ("loss", "flag"),
    [
        (LossConfig(normalization="mean"), "--loss.lambda-inmodal"),
        (LossConfig(name="clip"), "--optim.lr"),
    ],
)
def test_alarm_advice_fits_the_loss(loss, flag):
    alarm = CollapseAlarm(warmup_steps=0, loss=loss.resolved())
    stuck = {"contrastive_loss": math.log(64), "image_mean_cosine": 1.0}
    message = [alarm.update(s, 64, stuck) for s in (1, 2, 3)][-1]
    assert message is not None and flag in message and "paper" not in message


def test_the_default_normalisation_is_the_one_that_learns():
    assert TrainConfig().loss.normalization == "mean"


def _run(tmp_path, run_name, capsys, lr, **loss):
    cfg = tiny_config(
        tmp_path,
        run_name,
        loss=loss,
        optim={"max_steps": 12, "lr": lr, "warmup_steps": 2},
        run={"checkpoint_every": 0},
    )
    train(cfg, loader=TensorPairLoader(64, batch_size=16))
    return [line for line in capsys.readouterr().out.splitlines() if "collapse alarm" in line]


def test_a_tiny_collapsed_run_raises_the_alarm_and_a_learning_one_does_not(tmp_path, capsys):
    # "paper" with heavy cyclic weights collapses every image embedding to one point in a few
    # steps (the contrastive loss then sits at exactly ln 16)
    heavy = {"lambda_inmodal": 100.0, "lambda_crossmodal": 100.0}
    collapsed = _run(tmp_path, "collapsed", capsys, 1e-2, normalization="paper", **heavy)
    assert len(collapsed) == 1 and "--loss.normalization mean" in collapsed[0]
    assert _run(tmp_path, "clip", capsys, 1e-3, name="clip") == []
