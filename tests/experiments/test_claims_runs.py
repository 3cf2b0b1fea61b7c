"""An experiment run that a signal stopped is continued, never evaluated half-trained."""

from pathlib import Path

import pytest

from cyclip.experiments import ClaimsConfig, render_pairs
from cyclip.experiments.claims import ALL_METHODS, RunStopped, stopped, train_method
from cyclip.models import create_model
from cyclip.train import TrainResult


def test_a_run_stopped_by_a_signal_raises_with_how_to_continue(tmp_path: Path) -> None:
    stopped(TrainResult(tmp_path / "clip-seed0", step=60, epoch=0))  # finished: no error
    with pytest.raises(RunStopped, match=r"clip-seed0 stopped by SIGTERM at step 7.*again"):
        stopped(TrainResult(tmp_path / "clip-seed0", step=7, epoch=0, stopped_by="SIGTERM"))


def test_a_run_folder_with_a_checkpoint_is_continued_not_started_again(tmp_path: Path) -> None:
    cfg = ClaimsConfig(model="cyclip-tiny", batch_size=8, steps=2, warmup_steps=1, train_pairs=16)
    pairs = render_pairs(create_model("cyclip-tiny"), 16)
    run_dir, _ = train_method(cfg, ALL_METHODS["clip"], 0, tmp_path, pairs)
    longer = ClaimsConfig(**{**cfg.__dict__, "steps": 3})
    again, _ = train_method(longer, ALL_METHODS["clip"], 0, tmp_path, pairs)
    assert again == run_dir  # the same folder, not a second run beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == [run_dir.name]
    assert (run_dir / "checkpoints" / "step_00000003.pt").is_file()
