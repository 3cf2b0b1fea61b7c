"""Hostile input that used to hang, spin or leak a traceback (issue 21): named pipes among the
images or as the data source, runs that can never form a batch, and the like. Every case ends,
within a bounded time, with a counted skip or one line and exit code 2.
"""

from __future__ import annotations

import pytest

from cyclip.cli import train as cli
from cyclip.data import load_image
from cyclip.types import BadSampleError

from .conftest import (
    cyclip_cmd,
    error_lines,
    make_fifo,
    run,
    train_args,
    unblock_fifo,
    within,
    write_pairs,
)


def test_a_fifo_is_refused_as_an_image_without_blocking(tmp_path):
    fifo = make_fifo(tmp_path / "pipe.png")
    try:
        with pytest.raises(BadSampleError, match="not a regular file"):
            within(10, load_image, fifo)
    finally:
        unblock_fifo(fifo)


def test_a_fifo_as_the_training_data_is_one_line_exit_2(tmp_path, capsys):
    fifo = make_fifo(tmp_path / "pairs.csv")
    try:
        code = within(60, cli.main, train_args(tmp_path, "f", data=str(fifo))[1:])
    finally:
        unblock_fifo(fifo)
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert "pairs.csv" in lines[0] and "not a regular file" in lines[0], lines


def test_a_fifo_among_the_images_is_skipped_and_counted(tmp_path, capsys):
    rows = write_pairs(tmp_path / "img", 16)
    fifo = make_fifo(tmp_path / "img" / "pipe.png")
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join([*rows, "img/pipe.png,x"]))
    args = train_args(tmp_path, "fifo", "--optim.max-steps", "2", data=str(tmp_path / "pairs.csv"))
    args += ["--data.train-num-samples", "17", "--data.max-skip-rate", "0.5"]
    try:
        code = within(120, cli.main, args[1:])
    finally:
        unblock_fifo(fifo)
    assert code == 0, capsys.readouterr().err[-2000:]


@pytest.mark.slow
def test_a_fifo_among_the_images_with_a_worker_does_not_hang_the_real_command(tmp_path):
    rows = write_pairs(tmp_path / "img", 16)
    fifo = make_fifo(tmp_path / "img" / "pipe.png")
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join([*rows, "img/pipe.png,x"]))
    args = train_args(tmp_path, "fifo", "--optim.max-steps", "2", data=str(tmp_path / "pairs.csv"))
    args += ["--data.train-num-samples", "17", "--data.max-skip-rate", "0.5"]
    args += ["--data.workers", "1"]
    try:
        result = run(cyclip_cmd(args), 180)
    finally:
        unblock_fifo(fifo)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
