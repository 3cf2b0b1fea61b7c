"""Building the pieces of a run: determinism, run directory, model, loss, DDP, data."""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from cyclip import distributed as dist
from cyclip.losses import CyCLIPLoss
from cyclip.models import ModelBundle, create_model
from cyclip.precision import describe_precision, resolve_precision
from cyclip.rundir import (
    RunDir,
    RunDirError,
    RunDirLock,
    create_unique_run_dir,
    ensure_run_dir,
    record_config,
)
from cyclip.train.checkpoint import newest_checkpoint
from cyclip.train.config import LossConfig, ModelConfig, RunConfig, TrainConfig, config_to_dict
from cyclip.train.config_file import ConfigError
from cyclip.train.guards import TrainingError
from cyclip.train.heldout import ValidationLoss


def resolve_train_precision(cfg: TrainConfig, device: torch.device) -> tuple[TrainConfig, str]:
    """``--optim.precision auto`` made concrete for ``device``, so the step, the held-out loss
    and the saved config all use the one precision; with the line that says which and why."""
    precision = cfg.optim.precision
    line = describe_precision(precision, device, "--optim.precision")
    resolved = resolve_precision(precision, device)
    return dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, precision=resolved)), line


def configure_backends(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels only (bit-exact reruns), or the fast defaults; denormals flushed.

    cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` for deterministic matmuls; it is set here, at run
    time, only when asked for and not already set. On the CPU, denormal floats are flushed to
    zero: x86 arithmetic on them is very slow if they appear (decaying AdamW moments, tiny
    gradients), and flushing costs nothing where they do not (500 CLIP steps of cyclip-small at
    batch 128: none appeared, step-time ratio 0.98-1.03 with and without). Flushing is
    deterministic too.
    """
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    if deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # TF32 matmuls: ~10 bits of mantissa in the products, far below CLIP training noise.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def default_run_name(model: ModelConfig, loss: LossConfig) -> str:
    """``20250101-120000-cyclip-small-cyclip``: sortable and says what was trained."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    model_name = model.name.replace("/", "-").replace(":", "-")
    return f"{stamp}-{model_name}-{loss.name}"


def prepare_run_dir(
    run: RunConfig, model: ModelConfig, loss: LossConfig
) -> tuple[Path, RunDirLock]:
    """The run directory, created and locked by the main process; every rank gets the same path.

    Without ``--run.name`` the timestamped directory is created exclusively (a second run in the
    same second gets ``...-2``). The main process holds :class:`RunDirLock` on it until the
    returned lock is released, so a second process training in the same directory refuses.

    Raises:
        ConfigError: the directory cannot be created or written, or another process trains in it
            (on every rank).
    """
    lock: RunDirLock | None = None
    problem: str | None = None
    run_dir: Any = None
    if dist.is_main_process():
        try:
            if run.name:
                created = ensure_run_dir(RunDir(Path(run.output_dir) / str(run.name)))
            else:
                base = default_run_name(model, loss)
                created = ensure_run_dir(create_unique_run_dir(run.output_dir, base))
            lock = RunDirLock(created).acquire()
            run_dir = created.root
        except RunDirError as exc:
            problem = str(exc)
    run_dir, problem = dist.broadcast_object((run_dir, problem))  # type: ignore[misc]
    if problem:
        raise ConfigError(problem)
    dist.barrier()
    return Path(run_dir), lock or RunDirLock(RunDir(run_dir))


def find_resume_checkpoint(run: RunConfig, run_dir: Path) -> Path | None:
    """The checkpoint ``run.resume`` designates, or None for a fresh start.

    ``latest`` resolves to the newest checkpoint of ``RUN_DIR/checkpoints`` (see
    :func:`newest_checkpoint`) and means a fresh start when there is none yet, so one command
    line serves the first launch and every requeue. A run directory (or its ``checkpoints``
    folder) resolves to its newest checkpoint.
    """
    if run.resume is None:
        return None
    if run.resume == "latest":
        return newest_checkpoint(RunDir(run_dir).checkpoints)
    path = Path(run.resume)
    if path.is_dir():
        found = newest_checkpoint(RunDir(path).checkpoints) or newest_checkpoint(path)
        if found is None:
            raise ConfigError(f"--run.resume {path}: the directory holds no checkpoint")
        return found
    return path


def build_model(cfg: ModelConfig, device: torch.device) -> ModelBundle:
    """The model with its transforms and tokenizer, towers locked and checkpointing set as asked.

    Weights stay fp32: mixed precision is autocast in the training step.
    """
    from cyclip.models.hf_text import TextTowerUnavailable

    try:
        bundle = create_model(
            cfg.name, cfg.pretrained, device=device, precision="fp32", **cfg.overrides()
        )
    except TextTowerUnavailable as exc:  # a hub-named tower, offline
        raise ConfigError(str(exc)) from exc
    model = bundle.model
    model.train()
    if cfg.text_init is not None:  # before locking: a staged run's second stage
        from cyclip.train.sentence import load_text_init

        load_text_init(model, cfg.text_init)
    if cfg.lock_image:
        model.lock_image_tower(
            unlocked_groups=cfg.lock_image_unlocked_groups,
            freeze_bn_stats=cfg.lock_image_freeze_bn_stats,
        )
    if cfg.lock_text:
        model.lock_text_tower(unlocked_layers=cfg.lock_text_unlocked_layers)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return bundle


def build_loss(cfg: LossConfig, stage: str = "joint") -> nn.Module:
    """The objective of a resolved :class:`LossConfig` (lambdas concrete: see
    :meth:`TrainConfig.resolved`, which :func:`cyclip.train.train` applies once), with its
    sentence term if any (:mod:`cyclip.train.sentence`)."""
    from cyclip.train.sentence import build_objective

    if cfg.lambda_inmodal is None or cfg.lambda_crossmodal is None:
        raise ValueError("build_loss needs a resolved LossConfig (LossConfig.resolved())")
    base = CyCLIPLoss(
        lambda_inmodal=cfg.lambda_inmodal,
        lambda_crossmodal=cfg.lambda_crossmodal,
        normalization=cfg.normalization,
        implementation=cfg.cyclic_impl,
        local_loss=cfg.local_loss,
        objective=cfg.objective,
        dist_impl=cfg.dist_impl,
    )
    return build_objective(base, cfg, stage)


def wrap_model(model: nn.Module, device: torch.device, *, compile_model: bool) -> nn.Module:
    """DDP when distributed (gradients averaged over ranks), then ``torch.compile`` if asked."""
    wrapped: Any = model
    if dist.is_distributed():
        device_ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if compile_model:
        wrapped = torch.compile(wrapped)
    return wrapped


def build_loader(cfg: TrainConfig, bundle: ModelBundle) -> Any:
    """This process's training loader for ``cfg.data`` (see ``cyclip.data.build_train_loader``)."""
    from cyclip.data import build_train_loader
    from cyclip.train.sentence import attach_sentence_data

    loader = build_train_loader(
        cfg.data,
        bundle.preprocess_train,
        bundle.tokenizer,
        rank=dist.rank(),
        world_size=dist.world_size(),
        seed=cfg.run.seed,
    )
    return attach_sentence_data(loader, cfg, bundle.tokenizer, dist.rank(), dist.world_size())


def steps_per_epoch(loader: Any, cfg: TrainConfig) -> int:
    """Optimiser steps per epoch: ``len(loader) // accum_steps`` (a trailing incomplete
    accumulation group is dropped).

    Raises:
        TrainingError: fewer batches than one optimiser step needs.
    """
    accum = cfg.optim.accum_steps
    steps = len(loader) // accum
    if steps < 1:
        global_batch = cfg.data.batch_size * dist.world_size() * accum
        raise TrainingError(
            f"the training data yields {len(loader)} batch(es) per epoch per process, fewer than "
            f"one optimiser step ({accum} micro-batches; global batch {global_batch}); lower "
            "--data.batch-size or --optim.accum-steps, or add data"
        )
    return steps


def build_validation(
    cfg: TrainConfig, bundle: ModelBundle, device: torch.device
) -> ValidationLoss | None:
    """The validation loss (at the end of the run, and every ``--run.eval-every`` steps), when
    there is validation data."""
    data = cfg.data
    if data.val_data is None:
        return None
    return ValidationLoss(
        data.val_data,
        bundle.preprocess_val,
        bundle.tokenizer,
        batch_size=data.batch_size * dist.world_size(),
        workers=data.workers,
        device=device,
        precision=cfg.optim.precision,
        objective=cfg.loss.objective,
        timeouts=data.timeouts,
    )


def write_config(run_dir: Path, cfg: TrainConfig) -> None:
    """Save the resolved config as ``RUN_DIR/config.yaml`` and say where, in one line (main
    process only)."""
    if not dist.is_main_process():
        return
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    run = RunDir(run_dir)
    try:
        record_config(run, text)  # config.yaml, and config-history/NNN.yaml
    except OSError as exc:
        raise ConfigError(
            f"cannot write the config into the run directory {run_dir} "
            f"({exc.strerror or exc}); fix its permissions or choose another --run.output-dir"
        ) from exc
    print(f"run directory: {run_dir} (resolved config: {run.config})", flush=True)
