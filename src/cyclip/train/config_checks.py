"""``validate(cfg)``: every check of a ``TrainConfig`` in one place, before any work starts.

Each problem is one line saying what is wrong, the value, and the fix. The CLI prints them and
exits with code 2; :func:`cyclip.train.train` raises :class:`ConfigError` with all of them.
"""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path

import torch

from cyclip.device import resolve_device
from cyclip.losses import CYCLIC_IMPLS, NORMALIZATIONS, SIGLIP_DIST_IMPLS, base_objective
from cyclip.precision import PRECISIONS
from cyclip.rundir import RunDir
from cyclip.train.checkpoint import list_step_checkpoints
from cyclip.train.config import LOSS_NAMES, TrainConfig
from cyclip.train.config_file import ConfigError
from cyclip.train.logging import wandb_installed
from cyclip.train.periodic import eval_suite_problems
from cyclip.train.sentence import check_sentence


def validate(cfg: TrainConfig) -> list[str]:
    """All problems of ``cfg`` (empty when it is valid). Cheap: touches no data and no model."""
    problems: list[str] = []
    problems += _check_model(cfg)
    problems += _check_data(cfg)
    problems += _check_loss(cfg)
    problems += _check_optim(cfg)
    problems += _check_run(cfg)
    problems += check_sentence(cfg)
    return problems


def raise_if_invalid(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError` listing every problem of ``cfg``, one per line."""
    problems = validate(cfg)
    if problems:
        raise ConfigError("\n".join(problems))


def _check_model(cfg: TrainConfig) -> list[str]:
    m = cfg.model
    out = []
    if not m.name.startswith(("hf-hub:", "local-dir:")):
        from cyclip.models import list_models
        from cyclip.models.openai_format import resolve_model_name

        known = list_models()
        if resolve_model_name(m.name) not in known:
            close = difflib.get_close_matches(m.name, known, n=3)
            hint = f" (closest: {', '.join(close)})" if close else ""
            out.append(
                f"unknown model '{m.name}'{hint}; 'cyclip models' lists the architectures "
                "(--model.name)"
            )
        else:
            from cyclip.models.hf_text import text_tower_problems

            name = resolve_model_name(m.name)
            out += text_tower_problems(name, m.text_tower)
            out += _check_image_size(name, m.force_image_size)
            if m.pretrained is not None:
                out += _check_pretrained(name, m.pretrained)
    for key, value in (
        ("force_image_size", m.force_image_size),
        ("force_context_length", m.force_context_length),
    ):
        if value is not None and value < 1:
            out.append(f"--model.{key} must be a positive integer, got {value}")
    for key, value in (
        ("lock_image_unlocked_groups", m.lock_image_unlocked_groups),
        ("lock_text_unlocked_layers", m.lock_text_unlocked_layers),
    ):
        if value < 0:
            out.append(f"--model.{key} must be >= 0, got {value}")
    return out


MAX_IMAGE_TOKENS = 4096
"""Most patch tokens per image a ViT may be trained at (a 64x64 grid: ViT-B-16 at 1024 px);
attention costs grow with their square, so 6000 px on an 8-px patch (562,500 tokens) would run
one step for hours."""
MAX_IMAGE_SIZE = 4096
"""Largest --model.force-image-size for architectures without patches (ResNets)."""


def _check_image_size(name: str, size: int | None) -> list[str]:
    """``--model.force-image-size`` within what ``name`` can train at in bounded time and memory."""
    if size is None or size < 1:
        return []
    import open_clip

    from cyclip.models import register_model_configs

    register_model_configs()
    vision = (open_clip.get_model_config(name) or {}).get("vision_cfg", {})
    patch = vision.get("patch_size")
    if isinstance(patch, int) and patch > 0:
        tokens = (size // patch) ** 2
        largest = int(MAX_IMAGE_TOKENS**0.5) * patch
        if tokens > MAX_IMAGE_TOKENS:
            return [
                f"--model.force-image-size {size} gives {tokens:,} patch tokens per image for "
                f"'{name}' (patch {patch}); at most {MAX_IMAGE_TOKENS:,} are allowed "
                f"(--model.force-image-size at most {largest})"
            ]
    elif size > MAX_IMAGE_SIZE:
        return [f"--model.force-image-size must be at most {MAX_IMAGE_SIZE}, got {size}"]
    return []


def _check_pretrained(name: str, pretrained: str) -> list[str]:
    if os.path.isfile(pretrained):
        return []
    looks_like_path = os.path.sep in pretrained or pretrained.endswith(
        (".pt", ".pth", ".bin", ".safetensors", ".npz")
    )
    if looks_like_path:
        return [f"--model.pretrained file not found: {pretrained}"]
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        shown = ", ".join(tags) if tags else "none"
        return [
            f"unknown pretrained tag '{pretrained}' for model '{name}' (known: {shown}); or give "
            "the path of a weights file (--model.pretrained)"
        ]
    return []


def _check_source(source: str, flag: str) -> list[str]:
    """Existence of a data source: builtin task, file, folder, or every shard of a pattern."""
    from cyclip.data.builtin import is_builtin

    if is_builtin(source):
        return _check_builtin(source, flag)
    if "://" in source or source.startswith("pipe:"):
        return []  # remote shards: only the data layer can tell
    from braceexpand import braceexpand

    paths = [p for part in source.split("::") for p in braceexpand(part)]
    missing = [p for p in paths if not Path(p).exists()]
    if not missing:
        return []
    if len(paths) == 1:
        return [f"{flag}: not found: {source}"]
    return [f"{flag}: {len(missing)} of {len(paths)} shards not found, e.g. {missing[0]}"]


def _check_builtin(source: str, flag: str) -> list[str]:
    from cyclip.data.builtin import builtin_kind

    try:
        kind = builtin_kind(source)  # unknown names: a message with the closest valid one
    except ValueError as exc:
        return [f"{flag}: {exc}"]
    if kind != "pairs":
        return [f"{flag}: '{source}' is a {kind} task; training needs image-caption pairs"]
    return []


def _check_data(cfg: TrainConfig) -> list[str]:
    d = cfg.data
    out = _check_source(d.train_data, "--data.train-data")
    if d.val_data is not None:
        out += _check_source(d.val_data, "--data.val-data")
    if d.batch_size < 1:
        out.append(f"--data.batch-size must be >= 1, got {d.batch_size}")
    if d.workers < 0:
        out.append(f"--data.workers must be >= 0, got {d.workers}")
    if not 0.0 <= d.max_skip_rate <= 1.0:
        out.append(f"--data.max-skip-rate must be a fraction in [0, 1], got {d.max_skip_rate}")
    if d.train_num_samples is not None and d.train_num_samples < 1:
        out.append(f"--data.train-num-samples must be >= 1, got {d.train_num_samples}")
    if d.resampled and d.train_num_samples is None:
        out.append("--data.resampled has no natural epoch: set --data.train-num-samples")
    return out


def _check_loss(cfg: TrainConfig) -> list[str]:
    loss = cfg.loss
    out = []
    for key, value, legal in (
        ("name", loss.name, LOSS_NAMES),
        ("normalization", loss.normalization, NORMALIZATIONS),
        ("cyclic-impl", loss.cyclic_impl, CYCLIC_IMPLS),
        ("dist-impl", loss.dist_impl, SIGLIP_DIST_IMPLS),
    ):
        if value not in legal:
            out.append(f"--loss.{key} must be one of {', '.join(legal)}, got '{value}'")
    for key in ("lambda_inmodal", "lambda_crossmodal"):
        value = getattr(loss, key)
        if value is None:
            continue
        if not (math.isfinite(value) and value >= 0):
            out.append(f"--loss.{key} must be a finite number >= 0, got {value}")
        elif loss.name in LOSS_NAMES and value != 0:
            base = base_objective(loss.name)
            if loss.name == base.name:
                out.append(
                    f"--loss.name {base.name} has no cyclic terms but --loss.{key} is {value}; "
                    f"use --loss.name {base.cyclic_name} to weight them"
                )
    if loss.name in LOSS_NAMES and loss.objective != "clip":
        if loss.local_loss:
            out.append(
                f"--loss.local-loss is an option of the clip objective; {loss.objective} "
                "computes each rank's rows already (--loss.dist-impl chooses the exchange)"
            )
        if cfg.data.inmodal_augment:
            out.append(
                "--data.inmodal-augment is defined for the clip objective only; use --loss.name "
                "clip or cyclip, or drop the flag"
            )
    return out


def _check_optim(cfg: TrainConfig) -> list[str]:
    o = cfg.optim
    out = []
    if not (math.isfinite(o.lr) and o.lr > 0):
        out.append(f"--optim.lr must be a positive number, got {o.lr}")
    if not (math.isfinite(o.min_lr) and 0 <= o.min_lr <= max(o.lr, 0)):
        out.append(f"--optim.min-lr must be in [0, lr={o.lr}], got {o.min_lr}")
    if not (math.isfinite(o.weight_decay) and o.weight_decay >= 0):
        out.append(f"--optim.weight-decay must be >= 0, got {o.weight_decay}")
    for key in ("beta1", "beta2"):
        value = getattr(o, key)
        if not 0 <= value < 1:
            out.append(f"--optim.{key} must be in [0, 1), got {value}")
    if not o.eps > 0:
        out.append(f"--optim.eps must be > 0, got {o.eps}")
    if o.warmup_steps < 0:
        out.append(f"--optim.warmup-steps must be >= 0, got {o.warmup_steps}")
    if o.max_steps is None and o.epochs < 1:
        out.append(f"--optim.epochs must be >= 1, got {o.epochs} (or set --optim.max-steps)")
    if o.max_steps is not None and o.max_steps < 1:
        out.append(f"--optim.max-steps must be >= 1, got {o.max_steps}")
    if o.accum_steps < 1:
        out.append(f"--optim.accum-steps must be >= 1, got {o.accum_steps}")
    if o.grad_clip_norm is not None and not o.grad_clip_norm > 0:
        out.append(
            f"--optim.grad-clip-norm must be > 0 (or None to disable), got {o.grad_clip_norm}"
        )
    if o.precision not in PRECISIONS:
        out.append(f"--optim.precision must be one of {', '.join(PRECISIONS)}, got '{o.precision}'")
    else:
        out += _check_precision_on_device(o.precision, cfg.run.device)
    return out


def _device_type(device: str) -> str | None:
    if device == "auto":
        return resolve_device("auto")
    return device if device in ("cpu", "cuda") else None


def _check_precision_on_device(precision: str, device: str) -> list[str]:
    kind = _device_type(device)
    if precision == "fp16" and kind == "cpu":
        return [
            "--optim.precision fp16 needs a GPU (CPU autocast has no fp16 loss scaling); use "
            "bf16 or fp32 on the CPU"
        ]
    if precision == "bf16" and kind == "cuda" and torch.cuda.is_available():
        if not torch.cuda.is_bf16_supported():
            return ["--optim.precision bf16 is not supported by this GPU; use fp16 or fp32"]
    return []


def _check_run(cfg: TrainConfig) -> list[str]:
    r = cfg.run
    out = []
    kind = _device_type(r.device)
    if kind is None:
        out.append(
            f"--run.device must be auto, cpu or cuda, got '{r.device}' (pick GPUs with "
            "CUDA_VISIBLE_DEVICES; torchrun gives each process its own)"
        )
    elif kind == "cuda" and not torch.cuda.is_available():
        out.append(f"--run.device {r.device}: no CUDA device is available; use cpu or auto")
    for key, low in (
        ("log_every", 1),
        ("checkpoint_every", 0),
        ("keep_last", 1),
        ("eval_every", 0),
        ("max_nonfinite_in_row", 1),
        ("seed", 0),
    ):
        value = getattr(r, key)
        if value < low:
            out.append(f"--run.{key.replace('_', '-')} must be >= {low}, got {value}")
    if r.seed >= 2**63:
        out.append(f"--run.seed must be < 2**63 (a 64-bit seed), got {r.seed}")
    if r.name is not None and (not r.name or "/" in r.name or r.name in (".", "..")):
        out.append(f"--run.name must be a plain folder name, got '{r.name}'")
    if r.resume not in (None, "latest") and not Path(r.resume).exists():
        out.append(
            f"--run.resume: no checkpoint or run directory at {r.resume}; give a path, or "
            "'latest' with --run.name"
        )
    if r.resume == "latest" and r.name is None:
        out.append("--run.resume latest needs --run.name to know which run to continue")
    if r.resume is None and r.name is not None:
        run_dir = RunDir(Path(r.output_dir) / r.name)
        if run_dir.metrics.exists() or list_step_checkpoints(run_dir.checkpoints):
            out.append(
                f"run directory {run_dir.root} already holds a run; continue it with --run.resume "
                "latest, or choose another --run.name"
            )
    if r.wandb and not wandb_installed():
        out.append("--run.wandb needs the wandb package: pip install wandb (or drop --run.wandb)")
    if not (math.isfinite(r.eval_timeout) and r.eval_timeout > 0):
        out.append(f"--run.eval-timeout must be a positive number of seconds, got {r.eval_timeout}")
    out += eval_suite_problems(r.eval_suite)
    return out
