"""The base objectives the cyclic terms add to: a registry name -> term. docs/method.md §1.1, §1.7.

A base objective is the image-text matching loss of a step (CLIP's softmax InfoNCE, SigLIP's
pairwise sigmoid loss); the cyclic terms of §1.2 act on cosines only and add to any of them
unchanged. Adding a base is one :class:`BaseObjective` entry in :data:`BASE_OBJECTIVES`: a term
module, its single-process formula, how the model's logit scale and bias start, and the two loss
names it gives (``clip`` / ``cyclip``, ``siglip`` / ``cy-siglip``).

Distributed contract of a term (docs/method.md §3): the mean over ranks of its value is the loss
of the global batch, and the sum over ranks of the gradient each rank's value sends to a rank's
own features is ``world_size`` times the gradient of that global loss; DDP's averaging then gives
the parameter gradients of one process on the concatenated batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, get_args

import torch
from open_clip.loss import SigLipLoss
from torch import nn

from cyclip import distributed as dist
from cyclip.losses.contrastive import (
    augmented_contrastive_loss,
    contrastive_loss,
    contrastive_loss_local,
)

SigLipDistImpl = Literal["bidir", "shift", "reduce", "gather"]
SIGLIP_DIST_IMPLS: tuple[SigLipDistImpl, ...] = get_args(SigLipDistImpl)


class StepFeatures:
    """This rank's features of one step; the global batch's are gathered on first use only.

    Args:
        image, text: (n, d) L2-normalised embeddings of this rank's pairs, paired row by row.
        augmented_image, augmented_text: (n, d) embeddings of augmented views, or None.
    """

    def __init__(
        self,
        image: torch.Tensor,
        text: torch.Tensor,
        augmented_image: torch.Tensor | None = None,
        augmented_text: torch.Tensor | None = None,
    ) -> None:
        self.image, self.text = image, text
        self.augmented_image, self.augmented_text = augmented_image, augmented_text

    @cached_property
    def all_image(self) -> torch.Tensor:
        """(N, d) image features of every rank, gathered with gradients."""
        return dist.gather(self.image)

    @cached_property
    def all_text(self) -> torch.Tensor:
        """(N, d) text features of every rank, gathered with gradients."""
        return dist.gather(self.text)

    @cached_property
    def sizes(self) -> list[int]:
        """Local batch size of every rank (one small all-gather)."""
        n = torch.tensor([self.image.shape[0]], device=self.image.device)
        return [int(s) for s in dist.gather(n)]


class ContrastiveObjective(nn.Module):
    """CLIP's symmetric InfoNCE over the global batch (docs/method.md §1.1, §3).

    Args:
        local_loss: each rank computes only its own rows of the logits (open_clip's option).
    """

    def __init__(self, local_loss: bool = False) -> None:
        super().__init__()
        self.local_loss = local_loss

    def forward(
        self, f: StepFeatures, logit_scale: torch.Tensor, logit_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        if logit_bias is not None:
            raise ValueError(
                "the clip objective is CLIP's softmax loss, but this model has a logit_bias "
                "(a SigLIP model): use --loss.name siglip (or cy-siglip), or a CLIP architecture"
            )
        if self.local_loss and dist.is_distributed():
            offset = sum(f.sizes[: dist.rank()])
            loss = contrastive_loss_local(
                f.image, f.text, f.all_image, f.all_text, logit_scale, offset
            )
        else:
            loss = contrastive_loss(f.all_image, f.all_text, logit_scale)
        if f.augmented_image is None or f.augmented_text is None:
            return loss
        all_image_aug = dist.gather(f.augmented_image)
        all_text_aug = dist.gather(f.augmented_text)
        inmodal = 0.5 * (
            augmented_contrastive_loss(f.all_image, all_image_aug, logit_scale)
            + augmented_contrastive_loss(f.all_text, all_text_aug, logit_scale)
        )
        return 0.5 * (loss + inmodal)


def sigmoid_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
    logit_bias: torch.Tensor | float,
) -> torch.Tensor:
    """SigLIP's loss of one batch (Zhai et al., 2023), by open_clip's ``SigLipLoss``:
    ``−(1/N) Σ_{i,j} log σ(z_ij · (s ⟨I_i, T_j⟩ + b))``, z_ij = 1 on the diagonal, −1 elsewhere.

    Args:
        image_features, text_features: (N, d) L2-normalised embeddings, paired row by row.
        logit_scale: ``s`` (already exponentiated), scalar.
        logit_bias: ``b``, scalar.

    Returns:
        Scalar: the sum over all N² pairs divided by N.
    """
    return SigLipLoss()(image_features, text_features, logit_scale, logit_bias)


class SigLipObjective(nn.Module):
    """SigLIP's pairwise sigmoid loss over the global batch, computed by open_clip's
    ``SigLipLoss`` (docs/method.md §1.7, §3.1).

    With equal local batches (the normal case) each rank computes its own rows against every
    rank's captions, which open_clip's ``dist_impl`` exchange passes around with gradients; the
    value is the rank's sum over pairs ÷ its local batch size, whose mean over ranks is the global
    loss. open_clip's exchanges need equal local batches (they abort otherwise), so when the ranks'
    batches differ (bad samples dropped) this step gathers every rank's features with gradients and
    computes the global loss on every rank instead: exact again, at O(N²) per rank for that step.

    Args:
        dist_impl: open_clip's exchange: ``bidir`` (open_clip's default), ``shift``, ``reduce``
            or ``gather``; all four give the single-process gradients (tests/losses/).
    """

    def __init__(self, dist_impl: SigLipDistImpl = "bidir") -> None:
        super().__init__()
        if dist_impl not in SIGLIP_DIST_IMPLS:
            raise ValueError(
                f"dist_impl must be one of {', '.join(SIGLIP_DIST_IMPLS)}, got {dist_impl!r}"
            )
        self.dist_impl = dist_impl

    def forward(
        self, f: StepFeatures, logit_scale: torch.Tensor, logit_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        if logit_bias is None:
            raise ValueError(
                "the siglip objective needs the model's logit_bias: build the model with "
                "init_logit_bias (cyclip train does for --loss.name siglip; in open_clip: "
                "create_model(name, init_logit_scale=math.log(10), init_logit_bias=-10))"
            )
        if f.augmented_image is not None:
            raise ValueError(
                "the in-modal augmentation variant (--data.inmodal-augment) is defined for the "
                "clip objective only"
            )
        logit_bias = logit_bias.float()
        if not dist.is_distributed():
            return sigmoid_loss(f.image, f.text, logit_scale, logit_bias)
        if len(set(f.sizes)) > 1:
            return sigmoid_loss(f.all_image, f.all_text, logit_scale, logit_bias)
        loss = SigLipLoss(rank=dist.rank(), world_size=dist.world_size(), dist_impl=self.dist_impl)
        return loss(f.image, f.text, logit_scale, logit_bias)


@dataclass(frozen=True)
class BaseObjective:
    """One base objective: its names, its term, its formula and the model it expects."""

    name: str
    """Loss name of the base alone (``--loss.name``), e.g. ``clip``."""
    cyclic_name: str
    """Loss name of the base plus the cyclic terms at the paper's weights, e.g. ``cyclip``."""
    term: Callable[..., nn.Module]
    """``term(local_loss=..., dist_impl=...) -> module``; ``module(StepFeatures, s, b)`` is the
    rank's value under the distributed contract of this module's docstring."""
    formula: Callable[..., torch.Tensor]
    """Single-process loss ``formula(image, text, logit_scale, logit_bias)`` (validation, tests)."""
    init_logit_scale: float | None
    """Initial ``logit_scale`` (a log) the model is built with; None = the architecture's."""
    init_logit_bias: float | None
    """Initial ``logit_bias``; None = the model has no bias."""
    summary: str


BASE_OBJECTIVES: dict[str, BaseObjective] = {
    b.name: b
    for b in (
        BaseObjective(
            name="clip",
            cyclic_name="cyclip",
            term=lambda local_loss=False, **_: ContrastiveObjective(local_loss),
            formula=lambda i, t, s, b=None: contrastive_loss(i, t, s),
            init_logit_scale=None,  # open_clip's ln(1/0.07)
            init_logit_bias=None,
            summary="CLIP's symmetric softmax InfoNCE",
        ),
        BaseObjective(
            name="siglip",
            cyclic_name="cy-siglip",
            term=lambda dist_impl="bidir", **_: SigLipObjective(dist_impl),
            formula=sigmoid_loss,
            init_logit_scale=math.log(10.0),  # SigLIP's init, as open_clip_train --siglip
            init_logit_bias=-10.0,
            summary="SigLIP's pairwise sigmoid loss with a learnable bias",
        ),
    )
}


def loss_names() -> tuple[str, ...]:
    """Every legal ``--loss.name``: each base alone and with the cyclic terms."""
    return tuple(n for b in BASE_OBJECTIVES.values() for n in (b.name, b.cyclic_name))


def base_objective(name: str) -> BaseObjective:
    """The base objective of a loss name (``cyclip`` -> clip's, ``cy-siglip`` -> siglip's).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    for b in BASE_OBJECTIVES.values():
        if name in (b.name, b.cyclic_name):
            return b
    raise ValueError(f"unknown loss name {name!r}; known: {', '.join(loss_names())}")


def is_cyclic_name(name: str) -> bool:
    """True for the names that weight the cyclic terms by default (``cyclip``, ``cy-siglip``)."""
    return base_objective(name).cyclic_name == name
