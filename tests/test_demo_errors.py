"""``cyclip demo`` reports a training failure in one line (exit 1), not a traceback."""

import cyclip.train
from cyclip.cli import demo


def test_a_training_failure_is_one_line_and_exit_1(monkeypatch, tmp_path, capsys):
    def fail(cfg, **kwargs):
        raise cyclip.train.TrainingError("a data loading process died; continue with --run.resume")

    monkeypatch.setattr(cyclip.train, "train", fail)
    assert demo.main(["--quick", "--output-dir", str(tmp_path), "--workers", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cyclip demo: a data loading process died; continue with --run.resume"]
