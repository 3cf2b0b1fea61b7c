"""Ctrl-C as a terminal delivers it: SIGINT to the whole process group (DataLoader workers
included). One stops the run cleanly after the current step with a checkpoint of that step; two
stop it at once, still without a traceback and with a loadable checkpoint on disk.

SIGTERM to the main process alone (what schedulers send) and the bit-exact resume after it are
in ``tests/train/test_resume_kill.py`` and ``tests/train/test_trainer.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from cyclip.rundir import CHECKPOINT_DIR
from cyclip.train.checkpoint import load_checkpoint, newest_checkpoint

from .conftest import ENV, REPO_ROOT, cyclip_cmd, train_args, wait_for


def start_in_own_group(args: list[str], log, faults: bool = False, **env) -> subprocess.Popen:
    return subprocess.Popen(
        cyclip_cmd(args, faults=faults),
        env={**ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        cwd=REPO_ROOT,
        start_new_session=True,  # its own process group, as a job in a terminal
    )


def test_ctrl_c_to_the_process_group_with_workers_stops_cleanly_with_a_checkpoint(tmp_path):
    ckpts = tmp_path / "int" / CHECKPOINT_DIR
    args = train_args(tmp_path, "int", "--data.workers", "2")
    proc = start_in_own_group(args, tmp_path / "int.err")
    wait_for(lambda: (ckpts / "step_00000004.pt").exists(), proc, "the first checkpoint", 180)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(120) == 128 + signal.SIGINT
    err = (tmp_path / "int.err").read_text()
    assert "Traceback" not in err, err[-3000:]
    lines = (tmp_path / "int" / "metrics.jsonl").read_text().splitlines()
    last_logged = max(m["step"] for m in map(json.loads, lines) if "loss" in m)
    saved = load_checkpoint(ckpts / "latest.pt")
    assert 4 <= saved["step"] < 24 and saved["step"] == last_logged  # nothing lost, nothing extra
    assert not any(ckpts.glob(".tmp-*"))


@pytest.mark.slow
def test_second_ctrl_c_during_the_final_checkpoint_stops_at_once_keeping_the_previous(tmp_path):
    """Checkpoint writes take 3 s here; the second Ctrl-C arrives while the stop's checkpoint is
    being written: exit 130 with "interrupted" and no traceback, the partial file is removed and
    step 4's checkpoint is the newest."""
    ckpts = tmp_path / "int2" / CHECKPOINT_DIR
    proc = start_in_own_group(
        train_args(tmp_path, "int2"), tmp_path / "int2.err", faults=True, FAULT_SLOW_SAVE="3"
    )
    wait_for(lambda: (ckpts / "latest.pt").exists(), proc, "the first checkpoint", 180)
    os.killpg(proc.pid, signal.SIGINT)
    wait_for(lambda: any(ckpts.glob(".tmp-*")), proc, "the stop's checkpoint being written")
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(120) == 128 + signal.SIGINT
    err = (tmp_path / "int2.err").read_text()
    assert "Traceback" not in err and "interrupted" in err, err[-3000:]
    assert not any(ckpts.glob(".tmp-*"))
    assert load_checkpoint(newest_checkpoint(ckpts))["step"] == 4
