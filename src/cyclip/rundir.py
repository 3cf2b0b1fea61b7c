"""The run directory and the checkpoint payload: one definition of both.

Layout (written by the trainer and ``cyclip eval``, read by ``cyclip report`` and the
experiments)::

    RUN_DIR/config.yaml                      resolved training config
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
