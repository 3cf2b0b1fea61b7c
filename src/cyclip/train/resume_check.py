"""What may change when a run is resumed, field by field.

A resumed run continues the first one's record, so the config it trained with must still say
what trained every step:

- the model, the objective and the training data may not change (:data:`FIXED`): that would be
  another experiment, refused unless ``--run.allow-config-change``;
- how the run is carried out and how long it is may change freely (:data:`FREE`);
- everything else (learning rate, schedule, precision, seed, ...) may change with a warning.

Each launch's config is kept in ``RUN_DIR/config-history/`` (see :func:`cyclip.rundir.record_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cyclip.train.config_file import ConfigError

FIXED = frozenset(
    {
        "model.name",
        "model.pretrained",
        "model.force_image_size",
        "model.force_context_length",
        "model.lock_image",
        "model.lock_image_unlocked_groups",
        "model.lock_image_freeze_bn_stats",
        "model.lock_text",
        "model.lock_text_unlocked_layers",
        "loss.name",
        "loss.lambda_inmodal",
        "loss.lambda_crossmodal",
        "loss.normalization",
        "data.train_data",
        "data.dataset_type",
        "data.csv_img_key",
        "data.csv_caption_key",
        "data.csv_separator",
        "data.train_num_samples",
        "data.resampled",
        "data.inmodal_augment",
        "data.eda_rate",
    }
)
"""Fields that define the experiment: refused on resume without ``--run.allow-config-change``."""

FREE_SECTIONS = ("run.",)
FREE = frozenset(
    {
        "optim.epochs",
        "optim.max_steps",
        "data.batch_size",  # warned about by the position rescaling (cyclip.train.state)
        "data.workers",
        "data.prefetch_factor",
        "data.read_timeout",
        "data.worker_timeout",
        "data.val_data",
        "model.grad_checkpointing",
        "model.torch_compile",
        "model.attention_kernel",
        "loss.cyclic_impl",  # the same values, computed another way
    }
)
"""Fields that may change silently: the run's length and how it is carried out (every ``run.``
field too, except :data:`WARNED_RUN`)."""
WARNED_RUN = frozenset({"run.seed", "run.deterministic"})


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` of every field that differs, lists and tuples
    compared as lists; keys missing from ``old`` (an older cyclip) are not changes."""
    before, after = _flatten(old), _flatten(new)
    changes = []
    for key, value in after.items():
        if key not in before:
            continue
        a = list(before[key]) if isinstance(before[key], list | tuple) else before[key]
        b = list(value) if isinstance(value, list | tuple) else value
        if a != b:
            changes.append((key, before[key], value))
    return changes


def check_resume_config(
    old: Mapping[str, Any], new: Mapping[str, Any], *, allow_change: bool, source: str
) -> list[str]:
    """Compare a checkpoint's config with the resuming run's; return the warning lines.

    Raises:
        ConfigError: a :data:`FIXED` field changed and ``allow_change`` is False (one line
            naming every such field).
    """
    refused, warned = [], []
    for key, before, after in config_changes(old, new):
        if key in FREE or (key.startswith(FREE_SECTIONS) and key not in WARNED_RUN):
            continue
        change = f"{_flag(key)} {before!r} -> {after!r}"
        if key in FIXED and not allow_change:
            refused.append(change)
        else:
            warned.append(
                f"{change} since {source} was written; the first steps used the old value "
                "(see config-history/)"
            )
    if refused:
        raise ConfigError(
            f"changed since {source} was written: {', '.join(refused)}; a resumed run must keep "
            "its model, objective and data (start a new --run.name, or pass "
            "--run.allow-config-change to continue anyway)"
        )
    return warned
