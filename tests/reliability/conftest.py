"""Helpers for the fault-injection tests: real ``cyclip`` processes (optionally with faults from
``faulty_cyclip.py``), tiny training arguments and generated image-text CSVs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

RUNNER = Path(__file__).with_name("faulty_cyclip.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def train_args(
    out: Path, name: str, *extra: str, data: str = "builtin:shapes/pretrain"
) -> list[str]:
    """``cyclip train`` arguments: cyclip-tiny, batch 8, 96 pairs (12 steps an epoch), 2 epochs,
    deterministic, a checkpoint every 4 steps."""
    return [
        "train",
        "--model.name", "cyclip-tiny",
        "--data.train-data", data, "--data.train-num-samples", "96",
        "--data.batch-size", "8", "--data.workers", "0", "--data.val-data", "None",
        "--optim.epochs", "2", "--optim.warmup-steps", "3",
        "--run.output-dir", str(out), "--run.name", name, "--run.deterministic",
        "--run.checkpoint-every", "4", "--run.log-every", "1",
        "--run.no-tensorboard", "--run.no-progress",
        *extra,
    ]  # fmt: skip


def cyclip_cmd(args: list[str], *, faults: bool = False) -> list[str]:
    """The ``cyclip`` command line: ``python -m cyclip`` or the fault-injecting runner."""
    head = [sys.executable, str(RUNNER)] if faults else [sys.executable, "-m", "cyclip"]
    return [*head, *args]


def start(cmd: list[str], log: Path, **env: str) -> subprocess.Popen:
    """Start ``cmd`` with stdout and stderr into ``log``; ``env`` adds fault variables."""
    return subprocess.Popen(
        cmd, env={**ENV, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=REPO_ROOT
    )


def run(cmd: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion, stdout and stderr apart; the test fails on a hang."""
    try:
        return subprocess.run(
            cmd,
            env={**ENV, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd[:6])} ... hung for {timeout} s:\n{exc.stdout}\n{exc.stderr}")


def error_lines(stderr: str) -> list[str]:
    """Non-empty stderr lines, minus the warnings libraries print on import."""
    return [x for x in stderr.splitlines() if x.strip() and "Warning" not in x]


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.005)


def write_pairs(folder: Path, n: int, *, start_index: int = 0) -> list[str]:
    """``n`` small PNGs in ``folder`` with distinct colours; returns CSV rows ``path,caption``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(start_index, start_index + n):
        Image.new("RGB", (20, 20), (i * 37 % 256, i * 91 % 256, 128)).save(folder / f"{i:04d}.png")
        rows.append(f"{folder.name}/{i:04d}.png,a picture number {i}")
    return rows


def write_truncated_shard(folder: Path, n: int, cut_member: int) -> Path:
    """A webdataset shard of ``n`` (png, txt) samples, cut in the middle of member
    ``cut_member`` (counted from the start; negative from the end); returns ``folder/t.tar``."""
    import io
    import tarfile

    rows = write_pairs(folder / "img", n)
    path = folder / "s.tar"
    with tarfile.open(path, "w") as tar:
        for i, row in enumerate(rows):
            for name, data in (
                (f"{i:06d}.png", (folder / row.split(",")[0]).read_bytes()),
                (f"{i:06d}.txt", f"item {i}".encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path) as tar:
        member = tar.getmembers()[cut_member]
    cut = folder / "t.tar"
    cut.write_bytes(path.read_bytes()[: member.offset_data + member.size // 2])
    return cut


@pytest.fixture(autouse=True)
def _torch_state(torch_global_state):
    """In-process training runs: see ``torch_global_state`` in tests/conftest.py."""


def within(seconds: float, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a daemon thread; the test fails (instead of hanging) when it
    has not returned after ``seconds``. Returns its result, re-raises its exception."""
    import threading

    box: dict = {}

    def target() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} still running after {seconds} s (a hang)")
    if "error" in box:
        raise box["error"]
    return box.get("result")


def make_fifo(path: Path) -> Path:
    """A named pipe at ``path`` (opening it for reading blocks until a writer comes)."""
    os.mkfifo(path)
    return path


def unblock_fifo(path: Path) -> None:
    """Let a reader stuck on ``path`` go (a writer opens and closes it: the reader sees EOF)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no reader is waiting
        return
    os.close(fd)
