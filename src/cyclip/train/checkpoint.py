"""Checkpoints: atomic writes, keep-last-k rotation, ``latest.pt``, and ``weights_only`` loading.

The run directory layout and the checkpoint's keys are defined in :mod:`cyclip.rundir`
(:class:`~cyclip.rundir.CheckpointPayload`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cyclip.rundir import (
    LATEST_CHECKPOINT,
    REQUIRED_CHECKPOINT_KEYS,
    STEP_CHECKPOINT_RE,
    CheckpointPayload,
    step_checkpoint_name,
    strip_wrapper_prefixes,
)
from cyclip.safe_load import load_weights_only


def unwrap_model(model: Any) -> nn.Module:
    """The plain model under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def clean_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes (``module.``, ``_orig_mod.``) from every key; tensors to CPU."""
    return {k: v.detach().cpu() for k, v in strip_wrapper_prefixes(state_dict).items()}


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` so that readers see either the old file or the complete new one.

    Writes a temporary file in the same directory (same filesystem, so the rename is atomic),
    fsyncs it, then ``os.replace``s it over ``path``. A crash mid-write leaves only a
    ``.tmp-*`` file, which :func:`remove_stale_temp_files` deletes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _atomic_link_or_copy(src: Path, dst: Path) -> None:
    """Point ``dst`` at ``src``'s bytes atomically: a hard link when possible, else a copy."""
    tmp = dst.parent / f".tmp-link-{os.getpid()}-{dst.name}"
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # filesystems without hard links
        import shutil

        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete ``.tmp-*`` files a killed writer left behind. Returns what was removed."""
    removed = []
    if directory.is_dir():
        for p in directory.glob(".tmp-*"):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def list_step_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step_*.pt`` in ``directory``, sorted by step."""
    found = []
    if directory.is_dir():
        for p in directory.iterdir():
            m = STEP_CHECKPOINT_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    return sorted(found)


def newest_checkpoint(directory: Path) -> Path | None:
    """The most recent complete checkpoint in ``directory``: the newest ``step_*.pt`` (each is
    written atomically, and rotation never deletes the newest), else ``latest.pt``.

    Preferred over ``latest.pt`` alone because a kill between writing a step file and updating
    ``latest.pt`` leaves the latter one checkpoint behind.
    """
    steps = list_step_checkpoints(directory)
    if steps:
        return steps[-1][1]
    latest = directory / LATEST_CHECKPOINT
    return latest if latest.is_file() else None


class CheckpointManager:
    """Writes ``step_XXXXXXXX.pt`` files into ``directory``, keeps the newest ``keep_last``,
    and points ``latest.pt`` at the newest one.

    Args:
        directory: usually ``RUN_DIR/checkpoints``.
        keep_last: how many step checkpoints to keep (>= 1); the one just written is never
            deleted, and ``latest.pt`` is a separate link so it survives rotation.
    """

    def __init__(self, directory: str | os.PathLike, keep_last: int) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.directory = Path(directory)
        self.keep_last = keep_last

    @property
    def latest(self) -> Path:
        return self.directory / LATEST_CHECKPOINT

    def save(self, checkpoint: Mapping[str, Any], step: int) -> Path:
        """Write the checkpoint of ``step`` atomically, update ``latest.pt``, rotate old ones."""
        path = atomic_save(dict(checkpoint), self.directory / step_checkpoint_name(step))
        _atomic_link_or_copy(path, self.latest)
        self._rotate(keep=path)
        return path

    def _rotate(self, keep: Path) -> None:
        existing = list_step_checkpoints(self.directory)
        for _, p in existing[: max(0, len(existing) - self.keep_last)]:
            if p != keep:
                p.unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike) -> CheckpointPayload:
    """Load a cyclip checkpoint on the CPU with ``weights_only=True`` (no code can run).

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file is unreadable, holds anything but plain data (a pickle that
            would run code), or is not a cyclip training checkpoint.
    """
    ckpt = load_weights_only(path)
    required = REQUIRED_CHECKPOINT_KEYS
    missing = [k for k in required if k not in ckpt] if isinstance(ckpt, dict) else list(required)
    if missing:
        raise ValueError(
            f"{path} is not a cyclip training checkpoint (missing {missing}); to start from "
            "plain model weights use --model.pretrained PATH instead of --run.resume"
        )
    return ckpt  # type: ignore[return-value]


def load_with_fallback(path: str | os.PathLike) -> tuple[Path, CheckpointPayload, list[str]]:
    """Load ``path`` or, if it is unreadable (truncated by a full disk, a copy cut short), the
    newest older checkpoint of its directory that loads.

    Returns ``(path loaded, checkpoint, one line per file skipped)``.

    Raises:
        ValueError: no checkpoint of the directory loads (every file named).
    """
    path = Path(path)
    try:
        return path, load_checkpoint(path), []
    except ValueError as exc:
        first_error = exc
    skipped = [path.resolve()]
    notes = [f"checkpoint {path} is unreadable ({first_error})"]
    candidates = [p for _, p in reversed(list_step_checkpoints(path.parent))]
    candidates.append(path.parent / LATEST_CHECKPOINT)
    for candidate in candidates:
        if candidate.resolve() in skipped or not candidate.is_file():
            continue
        if any(candidate.samefile(s) for s in skipped if s.exists()):
            continue  # latest.pt: a hard link of a file already tried
        try:
            ckpt = load_checkpoint(candidate)
        except ValueError as exc:
            skipped.append(candidate.resolve())
            notes.append(f"checkpoint {candidate} is unreadable ({exc})")
            continue
        notes = [f"{note}; resuming from the newest complete one, {candidate}" for note in notes]
        return candidate, ckpt, notes
    raise ValueError("; ".join(notes) + "; no complete checkpoint is left to resume from")
