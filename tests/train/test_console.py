"""What a run prints: a line per logging step without a progress bar (and in a log file), always
an end-of-run line, and the config as one pointer to config.yaml (issue 20, item 8)."""

from __future__ import annotations

import re

from cyclip.train import train
from cyclip.train.logging import MetricsLogger

from .conftest import tiny_config
from .fakes import TensorPairLoader

METRICS = {
    "step": 20,
    "epoch": 0,
    "samples": 160,
    "lr": 2.5e-4,
    "loss": 2.5,
    "contrastive_loss": 2.0,
    "inmodal_cyclic_loss": 0.3,
    "crossmodal_cyclic_loss": 0.2,
    "samples_per_s": 123.4,
}


def test_without_a_progress_bar_each_logging_step_is_one_line(tmp_path, capsys):
    logger = MetricsLogger(tmp_path, tensorboard=False, total_steps=100, progress=False)
    logger.log_train(METRICS)
    logger.advance(1, METRICS)
    logger.close()
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("step 20/100")
    for part in ("loss 2.5", "clip 2", "in 0.3", "cross 0.2", "lr 2.50e-04", "123 samples/s"):
        assert part in line, (part, line)
    assert "\r" not in out.err


def test_a_log_file_gets_lines_not_carriage_return_updates(tmp_path, capsys):
    # pytest's captured stderr is not a terminal: as in `cyclip train ... 2> log.txt`
    logger = MetricsLogger(tmp_path, tensorboard=False, total_steps=100, progress=True)
    for step in range(1, 31):
        logger.advance(1, None)
        if step % 10 == 0:
            logger.log_train({**METRICS, "step": step})
    logger.close()
    out = capsys.readouterr()
    assert "\r" not in out.err and "\r" not in out.out
    assert [line.split()[1] for line in out.out.splitlines()] == ["10/100", "20/100", "30/100"]


def test_a_run_prints_its_config_as_one_line_and_ends_with_a_summary(tmp_path, capsys):
    cfg = tiny_config(tmp_path, optim={"max_steps": 4}, run={"log_every": 2})
    result = train(cfg, loader=TensorPairLoader(64, batch_size=8))
    lines = capsys.readouterr().out.strip().splitlines()
    config_lines = [line for line in lines if "config.yaml" in line]
    assert len(config_lines) == 1 and str(result.run_dir / "config.yaml") in config_lines[0]
    assert not any(line.startswith("  ") or line.endswith(":") for line in lines)  # no YAML dump
    assert [line.split()[1] for line in lines if line.startswith("step ")] == ["2/4", "4/4"]
    end = lines[-1]
    assert end.startswith("done: 4 steps")
    assert f"final loss {result.metrics['loss']:.4g}" in end
    assert str(result.checkpoint) in end
    assert re.search(r"in \d+(\.\d)?s$", end)
