"""A read that does not return (a hung file system) through the real entry points: ``cyclip train``
stops with exit 1 and ``cyclip eval`` with exit 2, each in one line naming the stuck file and the
option, within seconds of the limit instead of hanging. The loader-level tests (0 and 1 workers,
shards, a hung worker) are in ``tests/data/test_timeouts.py``."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from cyclip.cli import train as cli

from .conftest import cyclip_cmd, error_lines, run, train_args, write_pairs


@pytest.fixture
def stuck_csv(tmp_path, monkeypatch):
    """A training CSV of 16 pairs whose image ``img/0005.png`` blocks when this process loads it,
    until the test ends; returns (csv path, stuck path)."""
    from cyclip.data import csv_source

    rows = write_pairs(tmp_path / "img", 16)
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join(rows))
    stuck = str(tmp_path / "img" / "0005.png")
    release = threading.Event()
    real_load = csv_source.load_image

    def load_image(path, key=None):
        if path == stuck:
            release.wait(60)
        return real_load(path, key)

    monkeypatch.setattr(csv_source, "load_image", load_image)
    yield tmp_path / "pairs.csv", stuck
    release.set()


def test_training_on_a_stuck_read_stops_with_one_line_naming_the_file(stuck_csv, capsys):
    csv, stuck = stuck_csv
    args = train_args(csv.parent, "stuck", "--data.read-timeout", "0.5", data=str(csv))
    start = time.monotonic()
    assert cli.main(args[1:]) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert time.monotonic() - start < 60  # the limit ended the run, not the read
    assert stuck in line and "0.5 s (--data.read-timeout)" in line and "--run.resume" in line


def test_evaluation_on_a_stuck_read_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from cyclip.cli import eval as eval_cli
    from cyclip.data import imagefolder

    for name, colour in (("red", (220, 0, 0)), ("blue", (0, 0, 220))):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (24, 24), colour).save(tmp_path / "data" / name / f"{i}.png")
    stuck = str(tmp_path / "data" / "red" / "1.png")
    release = threading.Event()
    real_load = imagefolder.load_image

    def load_image(path, key=None):
        if path == stuck:
            release.wait(60)
        return real_load(path, key)

    monkeypatch.setattr(imagefolder, "load_image", load_image)
    argv = [
        "--model", "cyclip-tiny", "--task", "zeroshot", "--data", str(tmp_path / "data"),
        "--workers", "0", "--read-timeout", "0.5", "--no-cache", "--output-dir", str(tmp_path),
    ]  # fmt: skip
    try:
        assert eval_cli.main(argv) == 2
    finally:
        release.set()
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
    assert line.startswith("cyclip eval: error: reading ")
    assert stuck in line and "0.5 s (--read-timeout)" in line


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_stuck_read_stops_the_real_command_naming_the_file(tmp_path, workers):
    """The 5th image opened blocks for 10 minutes (in the main process, or in the worker):
    ``cyclip train --data.read-timeout 2`` exits 1 within the test's limit, one line, no
    traceback, naming the image."""
    rows = write_pairs(tmp_path / "img", 32)
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join(rows))
    args = train_args(
        tmp_path, "r", "--data.read-timeout", "2", "--data.workers", workers,
        data=str(tmp_path / "pairs.csv"),
    )  # fmt: skip
    proc = run(cyclip_cmd(args, faults=True), 240, FAULT_SLOW_IMAGE="5:600")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = error_lines(proc.stderr)
    assert "did not finish within 2 s (--data.read-timeout)" in line
    assert str(tmp_path / "img") in line and ".png" in line
    assert ("(in DataLoader worker 0)" in line) == (workers == "1")
