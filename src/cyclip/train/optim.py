"""AdamW with CLIP's parameter groups, the warm-up + cosine schedule, and the logit-scale clamp."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

# open_clip stores the inverse temperature as a log; it is capped at 100 (docs/method.md §1.5).
LOGIT_SCALE_MAX = math.log(100.0)


def param_groups(
    model: nn.Module, weight_decay: float
) -> list[dict[str, list[nn.Parameter] | float]]:
    """Split the trainable parameters into a decayed and a non-decayed group, by rank.

    Matrices and embeddings (``ndim >= 2``) are decayed; gains, biases, ``logit_scale`` and other
    parameters with ``ndim < 2`` are not (the nanoGPT rule: no list of names to keep in sync with
    the architecture). Frozen parameters (locked towers) are left out.

    Returns:
        Two groups, ``[{"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0}]``; empty groups are dropped.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def fused_available(device: torch.device) -> bool:
    """Whether PyTorch ships a fused AdamW kernel for this device type."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # private helper; older or newer torch may lack it
        return device.type == "cuda"
    return device.type in _get_fused_kernels_supported_devices()


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    device: torch.device,
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`, with the fused kernel when the device has one."""
    groups = param_groups(model, weight_decay)
    if not groups:
        raise ValueError(
            "the model has no trainable parameters: both towers are locked and logit_scale is "
            "frozen; unlock a tower (model.lock_image / model.lock_text) or some of its layers"
        )
    fused = fused_available(device)
    return torch.optim.AdamW(
        groups, lr=lr, betas=betas, eps=eps, fused=fused, foreach=None if fused else True
    )


def lr_at(
    step: int, *, base_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warm-up, then cosine decay.

    Warm-up: ``base_lr * (step + 1) / warmup_steps`` for ``step < warmup_steps``, so the first
    update already moves (not 0) and the last warm-up step reaches ``base_lr`` exactly.
    Then a half cosine from ``base_lr`` at ``step = warmup_steps`` down to ``min_lr`` at
    ``step = total_steps`` (the step after the last one). Steps past ``total_steps`` stay at
    ``min_lr``.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate (the schedule is stateless: a function of step)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


@torch.no_grad()
def clamp_logit_scale(model: nn.Module, max_value: float = LOGIT_SCALE_MAX) -> None:
    """Clamp the log inverse temperature to ``[0, ln 100]`` in place (docs/method.md §1.5).

    A no-op for models without a ``logit_scale`` parameter.
    """
    scale = getattr(model, "logit_scale", None)
    if isinstance(scale, torch.Tensor):
        scale.clamp_(0.0, max_value)


def grad_norm_and_clip(params: Iterable[nn.Parameter], max_norm: float | None) -> torch.Tensor:
    """Total 2-norm of the gradients, clipping them to ``max_norm`` when given.

    Returns the norm before clipping (a 0-d tensor, possibly non-finite: the caller skips the
    update then).
    """
    params = [p for p in params if p.grad is not None]
    if not params:
        return torch.zeros(())
    limit = float("inf") if max_norm is None else max_norm
    return torch.nn.utils.clip_grad_norm_(params, limit, foreach=True)
