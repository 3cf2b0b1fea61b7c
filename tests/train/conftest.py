"""Helpers for the trainer tests: tiny configurations and runs on generated tensors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from cyclip.data import DataConfig
from cyclip.train import ModelConfig, OptimConfig, RunConfig, TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def tiny_config(output_dir: Path, name: str = "run", **sections: dict[str, Any]) -> TrainConfig:
    """cyclip-tiny, batch 8, 2 epochs, fp32, no progress bar or TensorBoard; ``sections`` maps a
    section name to field overrides, e.g. ``optim={"lr": 1e-2}``."""
    cfg = TrainConfig(
        model=ModelConfig(name="cyclip-tiny"),
        data=DataConfig(
            train_data="builtin:shapes/pretrain", val_data=None, batch_size=8, workers=0
        ),
        optim=OptimConfig(epochs=2, warmup_steps=2, lr=1e-3, precision="fp32"),
        run=RunConfig(
            output_dir=str(output_dir),
            name=name,
            log_every=1,
            checkpoint_every=4,
            keep_last=2,
            tensorboard=False,
            progress=False,
        ),
    )
    changes = {
        key: dataclasses.replace(getattr(cfg, key), **values) for key, values in sections.items()
    }
    return dataclasses.replace(cfg, **changes)


@pytest.fixture(autouse=True)
def _torch_state(torch_global_state):
    """In-process training runs: see ``torch_global_state`` in tests/conftest.py."""
