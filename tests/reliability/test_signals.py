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


@pytest.mark.slow
def test_sigterm_during_a_read_that_does_not_return_stops_with_a_checkpoint(tmp_path):
    """The 30th image read blocks for 10 minutes (a hung filesystem; 0 workers, so in the main
    process): one SIGTERM stops the run within seconds, exit 143, with a checkpoint of the
    last completed step (3: step 4 reads images 25..32) and no traceback."""
    import time

    from .conftest import write_pairs

    rows = write_pairs(tmp_path / "img", 96)
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join(rows))
    args = train_args(tmp_path, "stuck", data=str(tmp_path / "pairs.csv"))
    proc = start_in_own_group(args, tmp_path / "stuck.err", faults=True, FAULT_SLOW_IMAGE="30:600")
    metrics = tmp_path / "stuck" / "metrics.jsonl"
    try:
        wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 3, proc,
                 "step 3", 240)  # fmt: skip
        time.sleep(8)  # now stuck in the 30th read for longer than StopRequest.WAIT_GRACE_S
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = (tmp_path / "stuck.err").read_text()
    assert "Traceback" not in err, err[-3000:]
    ckpts = tmp_path / "stuck" / CHECKPOINT_DIR
    assert load_checkpoint(newest_checkpoint(ckpts))["step"] == 3
