"""What a resume may change (issue 21 item 7): the length of the run and how it is run may
change; the objective, the model and the training data may not without
``--run.allow-config-change``; the optimisation settings may, with a warning. Every launch's
config is kept in ``config-history/``, so the record still says what trained the first steps.
"""

from __future__ import annotations

import warnings

import pytest
import yaml

from cyclip.cli import train as cli

from .conftest import error_lines, train_args


@pytest.fixture
def four_steps(tmp_path, capsys):
    args = train_args(tmp_path, "r", "--optim.max-steps", "4")[1:]
    assert cli.main(args) == 0
    capsys.readouterr()
    return tmp_path / "r", [*args, "--run.resume", "latest"]


def test_a_changed_objective_is_refused_with_one_line(four_steps, capsys):
    run_dir, resume = four_steps
    before = (run_dir / "config.yaml").read_text()
    assert cli.main([*resume, "--optim.max-steps", "6", "--loss.name", "clip"]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "--loss.name" in lines[0] and "cyclip" in lines[0], lines
    assert "--run.allow-config-change" in lines[0]
    assert (run_dir / "config.yaml").read_text() == before


def test_changed_data_is_refused(four_steps, capsys):
    _, resume = four_steps
    assert cli.main([*resume, "--data.train-num-samples", "48"]) == 2
    assert "--data.train-num-samples" in capsys.readouterr().err


def test_a_changed_lr_warns_and_the_first_config_is_kept(four_steps, capsys):
    run_dir, resume = four_steps
    assert cli.main([*resume, "--optim.max-steps", "6", "--optim.lr", "2e-3"]) == 0
    err = [x for x in error_lines(capsys.readouterr().err) if "--optim.lr" in x]
    assert len(err) == 1 and "warning" in err[0] and "0.002" in err[0], err
    history = sorted((run_dir / "config-history").glob("*.yaml"))
    assert [p.name for p in history] == ["001.yaml", "002.yaml"]
    assert yaml.safe_load(history[0].read_text())["optim"]["lr"] == 1e-3
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["lr"] == 2e-3


def test_the_run_length_may_change_silently(four_steps, capsys):
    run_dir, resume = four_steps
    assert cli.main([*resume, "--optim.max-steps", "6"]) == 0
    assert "changed" not in capsys.readouterr().err


def test_allow_config_change_continues_with_a_warning(four_steps, capsys):
    _, resume = four_steps
    args = [*resume, "--optim.max-steps", "6", "--loss.name", "clip", "--run.allow-config-change"]
    assert cli.main(args) == 0
    err = [x for x in error_lines(capsys.readouterr().err) if "--loss.name" in x]
    assert len(err) == 1 and "warning" in err[0], err


def test_the_batch_change_warning_does_not_repeat_a_number():
    from cyclip.train import TrainConfig
    from cyclip.train.state import _rescaled_batch_position

    cfg = TrainConfig()
    cfg = type(cfg)(**{**cfg.__dict__, "data": type(cfg.data)(batch_size=16)})
    ckpt = {"batch_in_epoch": 20, "config": {"data": {"batch_size": 8}}, "epoch": 0}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _rescaled_batch_position(ckpt, cfg) == 10
    (message,) = [str(w.message) for w in caught]
    assert "160 of its samples instead of 160" not in message and "160" in message
