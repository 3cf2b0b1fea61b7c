"""Real ``cyclip train`` processes: one killed with SIGKILL and resumed ends with bit-identical
weights to an uninterrupted run (deterministic mode, CPU); one sent SIGTERM stops cleanly after
writing a checkpoint and exits with 128 + 15."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from reliability.conftest import train_args

from cyclip.train.checkpoint import load_checkpoint, newest_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def command(out: Path, name: str, *extra: str) -> list[str]:
    """cyclip-tiny on 96 pairs of the builtin world, 12 steps per epoch, 2 epochs."""
    return [sys.executable, "-m", "cyclip", *train_args(out, name, *extra)]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path.name} appeared"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.01)


def losses(run_dir: Path) -> dict[int, float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {m["step"]: m["loss"] for m in lines if "loss" in m}


def test_sigkill_then_resume_is_bit_identical_and_sigterm_stops_cleanly(tmp_path):
    """The reference runs throughout; beside it, first the victim, then the victim's
    resumption and a third run that is sent SIGTERM."""
    ckpts = tmp_path / "cut" / "checkpoints"
    reference = start(command(tmp_path, "ref"), tmp_path / "ref.log")
    victim = start(command(tmp_path, "cut"), tmp_path / "cut.log")
    wait_for(ckpts / "step_00000008.pt", victim)
    victim.send_signal(signal.SIGKILL)  # no chance to clean up: mid-step or mid-write
    assert victim.wait(60) == -signal.SIGKILL
    newest = newest_checkpoint(ckpts)  # latest.pt may lag if the kill hit between the two
    killed_at = load_checkpoint(newest)["step"]
    assert 8 <= killed_at < 24, "the kill must interrupt the run"

    resumed = start(command(tmp_path, "cut", "--run.resume", "latest"), tmp_path / "resumed.log")
    term = start(command(tmp_path, "term"), tmp_path / "term.log")
    wait_for(tmp_path / "term" / "checkpoints" / "step_00000004.pt", term)
    term.send_signal(signal.SIGTERM)
    assert term.wait(60) == 128 + signal.SIGTERM, (tmp_path / "term.log").read_text()[-2000:]
    assert resumed.wait(180) == 0, (tmp_path / "resumed.log").read_text()[-2000:]
    assert reference.wait(180) == 0, (tmp_path / "ref.log").read_text()[-2000:]

    # SIGTERM: the run stopped after a step, with a checkpoint of exactly that step
    assert "stopped by SIGTERM" in (tmp_path / "term.log").read_text()
    stopped_at = load_checkpoint(tmp_path / "term" / "checkpoints" / "latest.pt")["step"]
    assert 4 <= stopped_at < 24 and stopped_at == max(losses(tmp_path / "term"))

    # SIGKILL + resume: the same weights and losses as the uninterrupted run, bit for bit
    assert f"resuming from {newest} at step {killed_at}" in (tmp_path / "resumed.log").read_text()
    ref = load_checkpoint(tmp_path / "ref" / "checkpoints" / "latest.pt")
    cut = load_checkpoint(ckpts / "latest.pt")
    assert ref["step"] == cut["step"] == 24
    for name, tensor in ref["state_dict"].items():
        assert torch.equal(tensor, cut["state_dict"][name]), f"{name} differs after resume"
    assert losses(tmp_path / "cut") == losses(tmp_path / "ref")  # every step, exactly, once
