"""A DataLoader worker or a distributed rank dies mid-run: the job stops with a clear message
within a bounded time instead of hanging."""

from __future__ import annotations

import sys

import pytest

from .conftest import cyclip_cmd, error_lines, run, write_pairs


def csv_of_pairs(folder) -> str:
    rows = write_pairs(folder / "imgs", 64)
    (folder / "pairs.csv").write_text("image,caption\n" + "\n".join(rows) + "\n")
    return str(folder / "pairs.csv")


@pytest.mark.parametrize("how", ["KILL", pytest.param("EXIT", marks=pytest.mark.slow)])
def test_dataloader_worker_death_stops_the_run_with_a_clear_message(tmp_path, how):
    """A worker SIGKILLs itself (as the OOM killer would) or calls ``os._exit`` on its 10th image:
    ``cyclip train`` exits 1 with one line naming the worker failure and what to try."""
    args = [
        "train", "--model.name", "cyclip-tiny", "--data.train-data", csv_of_pairs(tmp_path),
        "--data.batch-size", "8", "--data.workers", "2", "--data.val-data", "None",
        "--optim.max-steps", "8", "--run.output-dir", str(tmp_path), "--run.name", "w",
        "--run.no-tensorboard", "--run.no-progress",
    ]  # fmt: skip
    proc = run(cyclip_cmd(args, faults=True), 180, **{f"FAULT_{how}_WORKER": "10"})
    lines = error_lines(proc.stderr)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(lines) == 1, lines
    assert "DataLoader worker" in lines[0] and "--data.workers 0" in lines[0]


@pytest.mark.slow
def test_a_rank_killed_in_a_two_process_torchrun_stops_the_job(tmp_path):
    """Rank 1 of a 2-process gloo run SIGKILLs itself before step 6: torchrun tears the job
    down within the test's time limit (no hang in a collective), exits non-zero and names the
    rank and the signal; the checkpoint of step 4 stays loadable."""
    from cyclip.train.checkpoint import load_checkpoint, newest_checkpoint

    from .conftest import RUNNER, train_args

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd = [*torchrun, "--nproc-per-node", "2", str(RUNNER), *train_args(tmp_path, "ddp")]
    proc = run(cmd, 240, FAULT_KILL_RANK="1:6")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Signal 9 (SIGKILL)" in out or "exitcode  : -9" in out, out[-3000:]
    assert "rank      : 1" in out, out[-3000:]
    ckpt = newest_checkpoint(tmp_path / "ddp" / "checkpoints")
    assert ckpt is not None and load_checkpoint(ckpt)["step"] == 4
