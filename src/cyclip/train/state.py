"""The resumable state of a run: where it is in the data, and the checkpoint that holds it all.

The checkpoint payload is defined in :mod:`cyclip.rundir` (:class:`CheckpointPayload`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cyclip import __version__
from cyclip import distributed as dist
from cyclip.rundir import CheckpointPayload
from cyclip.train.checkpoint import clean_state_dict
from cyclip.train.config import TrainConfig, config_to_dict
from cyclip.train.config_file import ConfigError


@dataclass
class Progress:
    """Position of a run; the data loader resumes from ``(epoch, batch_in_epoch)``."""

    step: int = 0
    """Optimiser steps done (the learning-rate schedule's position)."""
    epoch: int = 0
    """Epoch being trained."""
    batch_in_epoch: int = 0
    """Micro-batches of that epoch already consumed."""
    samples: int = 0
    """Training pairs seen, over all processes."""

    def position(self) -> tuple[int, int, int]:
        return (self.step, self.epoch, self.batch_in_epoch)


def training_checkpoint(
    *,
    cfg: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    progress: Progress,
    total_steps: int,
    rng: list[dict[str, Any]],
    counters: dict[str, int],
) -> CheckpointPayload:
    """Everything needed to continue the run exactly, as plain data and tensors."""
    return {
        "state_dict": clean_state_dict(model.state_dict()),
        "model_name": cfg.model.name,
        "model_overrides": cfg.model.overrides(),
        "config": config_to_dict(cfg),
        "cyclip_version": __version__,
        "step": progress.step,
        "epoch": progress.epoch,
        "batch_in_epoch": progress.batch_in_epoch,
        "samples": progress.samples,
        "world_size": dist.world_size(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "scheduler": {"step": progress.step, "total_steps": total_steps},
        "rng": rng,
        "counters": counters,
    }


def restore_training_state(
    ckpt: CheckpointPayload,
    path: Path,
    *,
    cfg: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
) -> Progress:
    """Load weights, optimiser and scaler state from ``ckpt`` (read from ``path``); return the
    position. Counters and RNG states are left to their owners.

    Raises:
        ConfigError: the checkpoint holds another architecture than ``cfg.model.name``.
    """
    if ckpt["model_name"] != cfg.model.name:
        raise ConfigError(
            f"--run.resume {path} holds a '{ckpt['model_name']}' model but --model.name is "
            f"'{cfg.model.name}'; use the same model, or --model.pretrained to start a new run "
            "from these weights"
        )
    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scaler_state = ckpt.get("scaler")
    if scaler is not None and scaler_state:
        scaler.load_state_dict(scaler_state)
    return Progress(
        step=int(ckpt["step"]),
        epoch=int(ckpt["epoch"]),
        batch_in_epoch=_rescaled_batch_position(ckpt, cfg),
        samples=int(ckpt.get("samples", 0)),
    )


def _rescaled_batch_position(ckpt: CheckpointPayload, cfg: TrainConfig) -> int:
    """The checkpoint's position in its epoch, in batches of this run's global batch size.

    A run resumed with another number of processes or per-process batch size continues after
    the same number of samples of the epoch (rounded down), not the same number of batches.
    """
    position = int(ckpt.get("batch_in_epoch", 0))
    old = int(ckpt["config"]["data"]["batch_size"]) * int(ckpt.get("world_size", 1))
    new = cfg.data.batch_size * dist.world_size()
    if old == new or position == 0:
        return position
    if dist.is_main_process():
        done, kept = position * old, position * old // new * new
        rounded = f" (rounded down from {done})" if kept != done else ""
        warnings.warn(
            f"the global batch changed from {old} to {new} since the checkpoint; resuming "
            f"epoch {ckpt['epoch']} after {kept} of its samples{rounded}, in batches of {new}: "
            "the continuation is not identical to the original run",
            stacklevel=3,
        )
    return position * old // new
