"""The run directory and the checkpoint payload: one definition of both.

Layout (written by the trainer and ``cyclip eval``, read by ``cyclip report`` and the
experiments)::

    RUN_DIR/config.yaml                      resolved training config (of the latest launch)
    RUN_DIR/config-history/NNN.yaml          the config of every launch, oldest first
    RUN_DIR/.lock                            held (flock) by the process training in it
    RUN_DIR/metrics.jsonl                    one JSON object per logged step; periodic-eval
                                             lines carry "eval"
    RUN_DIR/tensorboard/                     TensorBoard events (when enabled)
    RUN_DIR/checkpoints/step_XXXXXXXX.pt     the newest ``keep_last`` step checkpoints
    RUN_DIR/checkpoints/latest.pt            the newest checkpoint (a hard link or a copy)
    RUN_DIR/eval/*.json                      result documents (cyclip.evaluation.schema)

A checkpoint is a ``torch.save`` of a :class:`CheckpointPayload`: plain data and tensors,
loadable with ``torch.load(path, weights_only=True)``.

This module imports nothing from cyclip (and not torch), so every layer can use it.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

CHECKPOINT_DIR = "checkpoints"
LATEST_CHECKPOINT = "latest.pt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
EVAL_DIR = "eval"
CONFIG_HISTORY_DIR = "config-history"
LOCK_FILE = ".lock"
STEP_CHECKPOINT_RE = re.compile(r"^step_(\d{8,})\.pt$")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
"""Key prefixes added by DDP (``module.``) and ``torch.compile`` (``_orig_mod.``)."""


def step_checkpoint_name(step: int) -> str:
    """``step_00000100.pt`` for step 100 (zero-padded so names sort by step)."""
    return f"step_{step:08d}.pt"


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (nothing is created or checked by building one)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a str is accepted too

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_DIR

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINT_DIR

    @property
    def latest(self) -> Path:
        """``RUN_DIR/checkpoints/latest.pt``."""
        return self.checkpoints / LATEST_CHECKPOINT

    @property
    def eval(self) -> Path:
        return self.root / EVAL_DIR

    @property
    def config_history(self) -> Path:
        return self.root / CONFIG_HISTORY_DIR

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / step_checkpoint_name(step)

    def has_training_output(self) -> bool:
        """A metrics log or a config: what a run directory written by ``cyclip train`` holds."""
        return self.config.exists() or self.metrics.exists()

    @classmethod
    def of_checkpoint(cls, checkpoint: str | os.PathLike) -> RunDir | None:
        """The run directory holding ``RUN_DIR/checkpoints/<file>.pt``, or ``None``."""
        path = Path(checkpoint).resolve()
        if path.parent.name != CHECKPOINT_DIR:
            return None
        run = cls(path.parent.parent)
        return run if run.has_training_output() else None


class RunDirError(RuntimeError):
    """A run directory that cannot be created, written or claimed; the message says what to do."""


def _describe(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def create_unique_run_dir(parent: str | os.PathLike, base: str) -> RunDir:
    """Create ``parent/base`` (else ``base-2``, ``base-3``, ...) with an exclusive ``mkdir``.

    Two processes choosing the same timestamped name in the same second get two directories:
    ``mkdir`` without ``exist_ok`` succeeds for exactly one of them.

    Raises:
        RunDirError: ``parent`` cannot hold directories (a regular file, a device, read-only).
    """
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for i in itertools.count(1):
            candidate = parent / (base if i == 1 else f"{base}-{i}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return RunDir(candidate)
    except OSError as exc:
        raise RunDirError(
            f"cannot create a run directory in {parent} ({_describe(exc)}); choose a writable "
            "--run.output-dir"
        ) from exc
    raise AssertionError("unreachable")


def ensure_run_dir(run: RunDir) -> RunDir:
    """Create ``run`` and its ``checkpoints/`` folder (both may exist) and check both are
    writable directories.

    Raises:
        RunDirError: a regular file is in the way, or a directory is not writable.
    """
    for folder in (run.root, run.checkpoints):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if isinstance(exc, FileExistsError) or exc.errno == errno.ENOTDIR:
                problem = "a file that is not a directory is in the way"
            else:
                problem = _describe(exc)
            raise RunDirError(
                f"cannot create the run directory {folder} ({problem}); choose another "
                "--run.output-dir or --run.name, or move that file away"
            ) from exc
        if not os.access(folder, os.W_OK | os.X_OK):
            raise RunDirError(
                f"the run directory {folder} is not writable; fix its permissions or choose "
                "another --run.output-dir"
            )
    return run


class RunDirLock:
    """An exclusive ``flock`` on ``RUN_DIR/.lock`` for as long as a process trains in it.

    The kernel drops the lock when the process dies (even by SIGKILL), so a stale lock file
    never blocks a resume. Use as a context manager, or :meth:`acquire` / :meth:`release`.
    """

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._fd: int | None = None

    def acquire(self) -> RunDirLock:
        """Take the lock without waiting.

        Raises:
            RunDirError: another process holds it (its pid named), or the file cannot be made.
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking
            return self
        path = self.run.lock_file
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(
                f"cannot create the lock file {path} ({_describe(exc)}); the run directory must "
                "be writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunDirError(f"cannot lock {path} ({_describe(exc)})") from exc
            raise RunDirError(
                f"the run directory {self.run.root} is in use by another cyclip process (pid "
                f"{holder}); wait for it to finish, or choose another --run.name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def record_config(run: RunDir, text: str) -> Path:
    """Write ``text`` as ``config.yaml`` and append it to ``config-history/`` (``001.yaml``,
    ``002.yaml``, ...) so that a resumed run still records what trained its first steps.

    A launch with the same config as the newest entry adds none. Returns the entry.
    """
    history = run.config_history
    history.mkdir(exist_ok=True)
    if not any(history.iterdir()) and run.config.is_file():
        # a run directory from before the history existed: keep its config as the first entry
        (history / "001.yaml").write_text(run.config.read_text())
    numbers = sorted(int(p.stem) for p in history.glob("*.yaml") if p.stem.isdigit())
    newest = history / f"{numbers[-1]:03d}.yaml" if numbers else None
    if newest is not None and newest.read_text() == text:
        entry = newest  # the same config relaunched: nothing new to record
    else:
        entry = history / f"{(numbers[-1] if numbers else 0) + 1:03d}.yaml"
        entry.write_text(text)
    run.config.write_text(text)
    return entry


class CheckpointPayload(TypedDict):
    """What a cyclip training checkpoint holds (tensors typed as ``Any``: no torch import here).

    Readers check for :data:`MODEL_CHECKPOINT_KEYS` (evaluation) or
    :data:`REQUIRED_CHECKPOINT_KEYS` (resume); the trainer always writes every key.
    """

    state_dict: dict[str, Any]
    """Unwrapped model weights (no ``module.`` / ``_orig_mod.`` prefix); open_clip's
    ``create_model(model_name, pretrained=path)`` reads this key."""
    model_name: str
    """open_clip architecture name, e.g. ``"cyclip-small"``."""
    model_overrides: dict[str, Any]
    """``{"force_image_size": ..., "force_context_length": ...}`` as used to build it."""
    config: dict[str, Any]
    """The resolved TrainConfig as plain data."""
    cyclip_version: str
    """Package version that wrote it."""
    step: int
    """Optimiser steps done (the schedule position)."""
    epoch: int
    """Epoch to continue in."""
    batch_in_epoch: int
    """Micro-batches of that epoch already consumed."""
    samples: int
    """Training pairs seen so far (global)."""
    world_size: int
    """Processes of the run that wrote it (the resume rescales the batch position)."""
    optimizer: dict[str, Any]
    """AdamW state_dict."""
    scaler: dict[str, Any] | None
    """GradScaler state_dict (fp16) or None."""
    scheduler: dict[str, int]
    """``{"step", "total_steps"}``."""
    rng: list[dict[str, Any]]
    """RNG states, one per rank (see ``cyclip.train.rng``)."""
    counters: dict[str, int]
    """``{"epoch_seen", "epoch_skipped", "nonfinite_total", "nonfinite_in_row"}``."""


MODEL_CHECKPOINT_KEYS = ("state_dict", "model_name")
"""What makes a file a cyclip checkpoint, enough to rebuild the model (``cyclip eval``)."""
REQUIRED_CHECKPOINT_KEYS = (*MODEL_CHECKPOINT_KEYS, "step")
"""What ``--run.resume`` checks for before it uses a checkpoint."""


def is_cyclip_checkpoint(payload: object) -> bool:
    """Whether a loaded file is a cyclip checkpoint (has :data:`MODEL_CHECKPOINT_KEYS`)."""
    return isinstance(payload, dict) and all(k in payload for k in MODEL_CHECKPOINT_KEYS)


def strip_wrapper_prefixes(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The same state dict with the DDP / ``torch.compile`` prefixes removed from every key."""
    out = {}
    for key, value in state_dict.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix) :], True
        out[key] = value
    return out
