"""Training: ``train(cfg) -> TrainResult`` for CLIP / CyCLIP, from one CPU to many GPUs.

The library apart from the CLI: build a :class:`TrainConfig` (or load one with
:func:`load_config`), check it with :func:`validate`, and call :func:`train`::

    from cyclip.train import TrainConfig, OptimConfig, train
    result = train(TrainConfig(optim=OptimConfig(max_steps=100)))
"""

from cyclip.train.config import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    config_to_dict,
)
from cyclip.train.config_checks import validate
from cyclip.train.config_file import ConfigError, apply_mapping, load_config, read_config_file
from cyclip.train.guards import TrainingError
from cyclip.train.trainer import EvalFn, TrainResult, train

__all__ = [
    "ConfigError",
    "EvalFn",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "apply_mapping",
    "config_to_dict",
    "load_config",
    "read_config_file",
    "train",
    "validate",
]
