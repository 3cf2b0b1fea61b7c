"""Run directories are never shared by accident: two runs started in the same second without
``--run.name`` get two directories (created exclusively), a second process training in a run
directory that one already trains in refuses with one line, and what cannot be a run directory
(a regular file in the way, ``/dev/null``) is one line with exit code 2.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cyclip.cli import train as cli
from cyclip.rundir import RunDir, RunDirError, RunDirLock, create_unique_run_dir, ensure_run_dir
from cyclip.train import LossConfig, ModelConfig, RunConfig
from cyclip.train import setup as train_setup

from .conftest import cyclip_cmd, error_lines, run, train_args


def test_same_second_run_dirs_are_distinct_and_created_exclusively(tmp_path):
    """Sixteen threads asking for the same base name at once: sixteen directories."""
    made: list[RunDir] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        barrier.wait()
        made.append(create_unique_run_dir(tmp_path, "20260101-120000-cyclip-tiny-cyclip"))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    roots = {r.root for r in made}
    assert len(roots) == 16 and all(r.is_dir() for r in roots)
    assert tmp_path / "20260101-120000-cyclip-tiny-cyclip" in roots


def test_prepare_run_dir_without_a_name_never_reuses_a_directory(tmp_path, monkeypatch):
    """The timestamp is frozen: the second run (same second) gets its own directory."""
    monkeypatch.setattr(train_setup, "default_run_name", lambda model, loss: "same-second")
    run_cfg = RunConfig(output_dir=str(tmp_path), name=None)
    first, lock1 = train_setup.prepare_run_dir(run_cfg, ModelConfig(), LossConfig())
    second, lock2 = train_setup.prepare_run_dir(run_cfg, ModelConfig(), LossConfig())
    lock1.release()
    lock2.release()
    assert first != second
    assert (first / "checkpoints").is_dir() and (second / "checkpoints").is_dir()


def test_a_locked_run_dir_refuses_a_second_claim_and_frees_on_release(tmp_path):
    run_dir = ensure_run_dir(RunDir(tmp_path / "r"))
    with RunDirLock(run_dir):
        with pytest.raises(RunDirError, match=r"in use by another cyclip process \(pid \d+\)"):
            RunDirLock(run_dir).acquire()
    with RunDirLock(run_dir) as again:  # released: a later resume may take it
        assert again.held


def test_second_training_process_in_a_busy_run_dir_refuses_with_one_line(tmp_path, capsys):
    """While another holder has the run directory (as a running ``cyclip train`` does; a
    separate open of the lock file conflicts like another process), a ``--run.resume latest``
    of the same run exits 2 with one line and touches nothing."""
    run_dir = ensure_run_dir(RunDir(tmp_path / "busy"))
    with RunDirLock(run_dir):
        code = cli.main(train_args(tmp_path, "busy", "--run.resume", "latest")[1:])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2
    assert len(lines) == 1 and "in use by another cyclip process" in lines[0], lines
    assert not run_dir.metrics.exists() and not run_dir.config.exists()


@pytest.mark.slow
def test_second_real_process_on_a_training_run_refuses(tmp_path):
    """A real ``cyclip train`` trains (slowly: each checkpoint takes 2 s); a second
    ``--run.resume latest`` of it exits 2 with one line while it runs; the first, stopped by
    SIGTERM, has one uninterleaved metrics log."""
    import signal

    from .conftest import start, wait_for

    args = train_args(tmp_path, "both", "--optim.max-steps", "400", "--run.resume", "latest")
    first = start(cyclip_cmd(args, faults=True), tmp_path / "first.log", FAULT_SLOW_SAVE="2")
    try:
        wait_for(lambda: (tmp_path / "both" / "metrics.jsonl").exists(), first, "training", 240)
        second = run(cyclip_cmd(args), 240)
        assert first.poll() is None, "the first run ended too early for this test"
        assert second.returncode == 2, second.stderr[-2000:]
        assert "in use by another cyclip process" in second.stderr
        first.send_signal(signal.SIGTERM)
        assert first.wait(120) == 128 + signal.SIGTERM
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    lines = (tmp_path / "both/metrics.jsonl").read_text().splitlines()
    steps = [json.loads(x)["step"] for x in lines]
    assert steps == list(range(1, len(steps) + 1))


@pytest.mark.parametrize("where", ["file-as-run-dir", "file-as-checkpoints", "dev-null"])
def test_what_cannot_be_a_run_dir_is_one_line_exit_2(tmp_path, where, capsys):
    out, name = tmp_path, "r"
    if where == "file-as-run-dir":
        (tmp_path / "r").write_text("not a directory")
    elif where == "file-as-checkpoints":
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "checkpoints").write_text("not a directory")
    else:
        out = Path("/dev/null")
    code = cli.main(train_args(out, name, "--optim.max-steps", "1")[1:])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert "run directory" in lines[0] and "--run.output-dir" in lines[0], lines


@pytest.mark.slow
def test_two_unnamed_runs_in_the_same_second_both_keep_their_metrics(tmp_path):
    """Two real ``cyclip train`` processes without ``--run.name``, started together: two run
    directories, each with its own complete metrics and checkpoint."""
    import subprocess

    from .conftest import ENV, REPO_ROOT

    args = [a for a in train_args(tmp_path, "x", "--optim.max-steps", "2") if a != "x"]
    args.remove("--run.name")
    procs = [
        subprocess.Popen(
            cyclip_cmd(args), env=ENV, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        codes = [p.wait(300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0]
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(runs) == 2, runs
    for r in runs:
        steps = [json.loads(x)["step"] for x in (r / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 2]
        assert (r / "checkpoints" / "latest.pt").is_file()


def test_a_read_only_run_dir_is_one_line_before_resuming(tmp_path, capsys, monkeypatch):
    """Root ignores permissions, so the read-only check is simulated: ``os.access`` says no.
    The refusal comes before the checkpoint is loaded (not after "resuming from ...")."""
    import os

    from cyclip import rundir

    args = train_args(tmp_path, "ro", "--optim.max-steps", "4")[1:]
    assert cli.main(args) == 0
    capsys.readouterr()
    monkeypatch.setattr(rundir.os, "access", lambda path, mode: False)
    assert cli.main([*args, "--optim.max-steps", "8", "--run.resume", "latest"]) == 2
    captured = capsys.readouterr()
    lines = error_lines(captured.err)
    assert len(lines) == 1 and "not writable" in lines[0], lines
    assert "resuming from" not in captured.out
    assert os.path.exists(tmp_path / "ro" / "config.yaml")
