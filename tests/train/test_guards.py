"""Early stops: non-finite losses in a row, too many unreadable samples."""

from __future__ import annotations

import json
import math

import pytest

from cyclip.train import TrainingError, train
from cyclip.train.guards import NonFiniteGuard, SkipMonitor

from .conftest import tiny_config
from .fakes import TensorPairLoader


def test_guard_stops_on_the_kth_nonfinite_step_in_a_row_only():
    guard = NonFiniteGuard(max_in_row=3)
    losses = {"loss": math.nan, "contrastive_loss": math.nan}
    for step, ok in enumerate([False, False, True, False, False], start=1):
        guard.update(ok, step=step, losses=losses, precision="fp32")
    assert guard.total == 4 and guard.in_row == 2
    with pytest.raises(TrainingError, match=r"3 non-finite steps in a row \(last at step 6"):
        guard.update(False, step=6, losses=losses, precision="fp16")


def test_skip_monitor_stops_as_soon_as_the_epoch_limit_is_certain():
    monitor = SkipMonitor(max_rate=0.1, epoch_size=100)
    monitor.record(40, 9, ["a.jpg"])
    monitor.check(epoch=0, end_of_epoch=False)  # 9 skipped cannot yet exceed 10% of 100
    monitor.record(40, 2, ["b.jpg"])
    with pytest.raises(TrainingError, match=r"11 of 91 samples in epoch 0.*a\.jpg, b\.jpg"):
        monitor.check(epoch=0, end_of_epoch=False)


def test_skip_monitor_checks_the_rate_at_the_end_of_the_epoch():
    monitor = SkipMonitor(max_rate=0.1, epoch_size=1000)
    monitor.record(50, 10)
    monitor.check(epoch=2, end_of_epoch=False)
    with pytest.raises(TrainingError, match="16.67%"):
        monitor.check(epoch=2, end_of_epoch=True)
    monitor.new_epoch()
    monitor.check(epoch=3, end_of_epoch=True)


def test_run_of_nonfinite_losses_stops_training_with_advice(tmp_path):
    loader = TensorPairLoader(64, batch_size=8, nan_batches=tuple(range(8)))
    with pytest.raises(TrainingError) as info:
        train(tiny_config(tmp_path), loader=loader)
    message = str(info.value)
    assert "5 non-finite steps in a row (last at step 5" in message
    assert "contrastive_loss=nan" in message and "lower --optim.lr" in message


def test_isolated_nonfinite_step_is_skipped_and_counted(tmp_path):
    result = train(
        tiny_config(tmp_path, optim={"max_steps": 4}),
        loader=TensorPairLoader(64, batch_size=8, nan_batches=(1,)),
    )
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["nonfinite_skipped"] for m in lines] == [0, 1, 1, 1]
    assert lines[1]["loss"] == "nan"  # JSON has no NaN: written as a string
    assert math.isfinite(lines[-1]["loss"])


def test_too_many_unreadable_samples_stop_the_run_naming_examples(tmp_path):
    loader = TensorPairLoader(72, batch_size=8, bad_per_batch=1)  # 1 in 9 is bad: 11% > 1%
    with pytest.raises(TrainingError, match=r"unreadable and skipped.*img_0_0\.jpg.*max-skip-rate"):
        train(tiny_config(tmp_path), loader=loader)


def test_tolerated_skips_are_logged_per_epoch(tmp_path):
    result = train(
        tiny_config(tmp_path, data={"max_skip_rate": 0.5}),
        loader=TensorPairLoader(72, batch_size=8, bad_per_batch=1),
    )
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch_skipped"] for m in lines[:3]] == [1, 2, 3]
    first_of_epoch_1 = next(m for m in lines if m["epoch"] == 1)
    assert first_of_epoch_1["epoch_skipped"] == 1  # counted per epoch
    assert lines[0]["samples"] == 7
