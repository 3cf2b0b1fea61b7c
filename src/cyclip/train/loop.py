"""One optimiser step: forward under autocast, loss terms, backward, accumulation, update.

Gradient accumulation is exact for contrastive losses, which do not decompose over
micro-batches: the naive "sum of micro-batch losses" would give the gradient of a different,
smaller-batch objective. As in open_clip, a first pass embeds every micro-batch without a graph;
then each micro-batch is embedded again with a graph, substituted into the cached features, and
the loss of the whole step's batch is back-propagated through that micro-batch only. The sum of
these gradients is the gradient of the large-batch loss (up to floating-point reassociation), at
the cost of one extra forward pass per micro-batch. ``logit_scale`` (and a SigLIP model's
``logit_bias``) receives its gradient in one of the passes only, otherwise it would be counted
``accum_steps`` times (open_clip's loop does that). SigLIP's loss, a sum over pairs divided by the
local batch size, is exact here too: every pass computes it on the whole step's batch, so the
divisor is the step's local batch, never a micro-batch's (docs/method.md §3.1).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cyclip import distributed as dist
from cyclip.losses import crossmodal_cyclic_loss, inmodal_cyclic_loss
from cyclip.losses.simcse import SUP_KEYS, UNSUP_KEYS
from cyclip.precision import Precision, autocast_context
from cyclip.train.attention import (
    AttentionKernel,
    attention_kernel_context,
    resolve_attention_kernel,
)
from cyclip.train.optim import clamp_logit_scale, grad_norm_and_clip
from cyclip.train.sentence_views import SentenceRows, draw_seeds, rng_scope

Batch = dict[str, Any]
# Keys of the model's output that are per-sample features (concatenated over micro-batches).
FEATURE_KEYS = (
    "image_features",
    "text_features",
    "augmented_image_features",
    "augmented_text_features",
    *UNSUP_KEYS,
    *SUP_KEYS,
)


def make_grad_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 (which underflows without loss scaling); None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def forward_features(
    model: nn.Module, batch: Batch, device: torch.device, sentence: SentenceRows | None = None
) -> dict[str, torch.Tensor]:
    """Embed a batch: ``{"image_features" (B, d), "text_features" (B, d), "logit_scale" ()}``
    plus ``"logit_bias"`` for a model with one (SigLIP) and ``"augmented_image_features"`` /
    ``"augmented_text_features"`` (B, d) when the batch has augmented views.

    Original and augmented views go through the model in one call (2B rows) so that a DDP model
    sees exactly one forward per backward. A sentence term's rows (``sentence``) ride in the same
    call and come back under its keys (see :mod:`cyclip.train.sentence_views`).
    """
    if sentence is not None and sentence.views.text_only:
        return sentence.forward_text_only(model, batch, device)
    images = batch["images"].to(device, non_blocking=True)  # (B, 3, H, W)
    texts = batch["texts"].to(device, non_blocking=True)  # (B, L)
    augmented = "images_aug" in batch
    if augmented:
        images = torch.cat([images, batch["images_aug"].to(device, non_blocking=True)])
        texts = torch.cat([texts, batch["texts_aug"].to(device, non_blocking=True)])
    n_text, sentence_features = texts.shape[0], {}
    if sentence is None:
        out = model(images, texts)
    else:
        texts = torch.cat([texts, sentence.texts(batch, device)])
        with sentence.dropout(start=n_text):
            out = model(images, texts)
        sentence_features = sentence.split(out["text_features"][n_text:])
        out = {**out, "text_features": out["text_features"][:n_text]}
    features = {
        "image_features": out["image_features"],
        "text_features": out["text_features"],
        "logit_scale": out["logit_scale"],
    }
    if out.get("logit_bias") is not None:
        features["logit_bias"] = out["logit_bias"]
    if augmented:
        n = batch["images"].shape[0]
        features["image_features"], features["augmented_image_features"] = (
            out["image_features"][:n],
            out["image_features"][n:],
        )
        features["text_features"], features["augmented_text_features"] = (
            out["text_features"][:n],
            out["text_features"][n:],
        )
    features.update(sentence_features)
    return features


def _merge(
    cached: Sequence[dict[str, torch.Tensor]], j: int, fresh: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The step's features with micro-batch ``j``'s rows replaced by ``fresh`` (with a graph)."""
    parts = [*cached[:j], fresh, *cached[j + 1 :]]
    return {k: torch.cat([p[k] for p in parts]) for k in FEATURE_KEYS if k in fresh}


@torch.no_grad()
def cyclic_residuals(image_features: torch.Tensor, text_features: torch.Tensor) -> dict[str, float]:
    """Unweighted in-modal and cross-modal cyclic residuals of a batch, ÷N² ("mean", so values
    compare across batch sizes), in the cheap Gram form. Logged for CLIP runs too.

    Args:
        image_features, text_features: (N, d) normalised embeddings.
    """
    i, t = image_features.detach().float(), text_features.detach().float()
    return {
        "inmodal_residual": float(
            inmodal_cyclic_loss(i, t, normalization="mean", implementation="gram")
        ),
        "crossmodal_residual": float(
            crossmodal_cyclic_loss(i, t, normalization="mean", implementation="gram")
        ),
    }


@torch.no_grad()
def mean_pairwise_cosine(features: torch.Tensor) -> float:
    """Mean cosine similarity between distinct rows of (N, d) unit vectors: about 0 for spread-out
    embeddings, 1 when they are all identical (a collapsed model); 0 for N < 2."""
    x = features.detach().float()
    n = x.shape[0]
    if n < 2:
        return 0.0
    total = x.sum(dim=0).square().sum() - x.square().sum()  # sum over i != j of <x_i, x_j>
    return float(total / (n * (n - 1)))


@dataclass
class StepResult:
    """What one optimiser step did."""

    losses: dict[str, float]
    """``"loss"`` (the total) and each weighted term of the loss dict."""
    residuals: dict[str, float]
    """Unweighted cyclic residuals of this rank's batch (:func:`cyclic_residuals`) and the mean
    cosine between its image embeddings (``image_mean_cosine``, :func:`mean_pairwise_cosine`)."""
    grad_norm: float
    """Gradient 2-norm before clipping (non-finite when the step was skipped for it)."""
    updated: bool
    """False when the update was skipped because the loss or gradients were not finite."""
    n_samples: int
    """Pairs this rank trained on in this step (bad samples were already dropped)."""


class TrainStep:
    """Callable performing one optimiser step over ``accum_steps`` micro-batches.

    Args:
        model: the model to call (possibly DDP- and/or compile-wrapped).
        raw_model: the unwrapped model (parameters, logit-scale clamp).
        loss_fn: ``loss_fn(**features, output_dict=True) -> dict`` of weighted terms.
        optimizer: the optimiser.
        device: where batches go.
        precision: "fp32", "bf16" (autocast) or "fp16" (autocast + GradScaler).
        grad_clip_norm: clip the global gradient norm to this, or None.
        attention_kernel: SDPA kernel of the forward (and so the backward) passes; ``"auto"``
            picks the math kernel on CPU in bf16/fp16 (see :mod:`cyclip.train.attention`).
    """

    def __init__(
        self,
        model: nn.Module,
        raw_model: nn.Module,
        loss_fn: Callable[..., dict[str, torch.Tensor]],
        optimizer: torch.optim.Optimizer,
        *,
        device: torch.device,
        precision: Precision = "fp32",
        grad_clip_norm: float | None = None,
        attention_kernel: AttentionKernel = "auto",
    ) -> None:
        self.model = model
        self.raw_model = raw_model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.device = device
        self.precision = precision
        self.grad_clip_norm = grad_clip_norm
        self.scaler = make_grad_scaler(device, precision)
        self.attention_kernel = resolve_attention_kernel(attention_kernel, device, precision)
        views = getattr(loss_fn, "sentence_views", None)  # a SimCSE term's rows, if any
        self.sentence = SentenceRows(raw_model, views) if views is not None else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast for the precision, with the attention kernel chosen for it."""
        with autocast_context(self.device, self.precision):
            with attention_kernel_context(self.attention_kernel):
                yield

    def _backward(self, total: torch.Tensor) -> None:
        (self.scaler.scale(total) if self.scaler is not None else total).backward()

    def _forward(self, batch: Batch, seed: int | None) -> dict[str, torch.Tensor]:
        if self.sentence is None or seed is None:
            return forward_features(self.model, batch, self.device)
        with rng_scope(seed, self.device):  # the same dropout masks in both passes
            return forward_features(self.model, batch, self.device, self.sentence)

    def _no_sync(self, sync: bool) -> contextlib.AbstractContextManager:
        if sync or not isinstance(self.model, nn.parallel.DistributedDataParallel):
            return contextlib.nullcontext()
        return self.model.no_sync()

    def accumulate_gradients(
        self, micro_batches: Sequence[Batch]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Forward and backward over the micro-batches; gradients land in ``.grad``.

        Returns:
            The loss terms of the whole step's batch (detached) and the step's features
            (detached; (N, d) each).
        """
        # One dropout seed per micro-batch for the sentence term's views (None: no term).
        seeds: list[int | None] = [None] * len(micro_batches)
        if self.sentence is not None:
            seeds = list(draw_seeds(len(micro_batches)))
        if len(micro_batches) == 1:
            with self.autocast():
                features = self._forward(micro_batches[0], seeds[0])
                losses = self.loss_fn(**features, output_dict=True)
            self._backward(_total(losses))
            return _detach(losses), _detach(features)
        with torch.no_grad(), self.autocast():
            cached = [self._forward(mb, seeds[j]) for j, mb in enumerate(micro_batches)]
        last = len(micro_batches) - 1
        first_losses: dict[str, torch.Tensor] = {}
        for j, mb in enumerate(micro_batches):
            # DDP all-reduces gradients only on the last backward; logit_scale (and logit_bias)
            # get their gradient there too (once), so that DDP sees every parameter used then.
            with self._no_sync(j == last):
                with self.autocast():
                    fresh = self._forward(mb, seeds[j])
                    inputs = _merge(cached, j, fresh)
                    for key in ("logit_scale", "logit_bias"):  # bias: SigLIP models only
                        if key in fresh:
                            inputs[key] = fresh[key] if j == last else fresh[key].detach()
                    losses = self.loss_fn(**inputs, output_dict=True)
                self._backward(_total(losses))
            if j == 0:
                first_losses = _detach(losses)
        features = {k: torch.cat([c[k] for c in cached]) for k in FEATURE_KEYS if k in cached[0]}
        return first_losses, features

    def __call__(self, micro_batches: Sequence[Batch], lr: float) -> StepResult:
        """Run one optimiser step at learning rate ``lr``."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        losses, features = self.accumulate_gradients(micro_batches)
        total = sum(losses.values())
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        grad_norm = grad_norm_and_clip(self.raw_model.parameters(), self.grad_clip_norm)
        # fp16 overflow of the *scaled* gradients is routine (the scaler then skips and lowers the
        # scale); only a non-finite loss counts as a bad step there.
        bad = not math.isfinite(float(total)) or (
            self.scaler is None and not math.isfinite(float(grad_norm))
        )
        # Ranks must agree, or their weights would diverge (local_loss values differ by rank).
        bad = bool(dist.all_reduce_sum_(torch.tensor([float(bad)], device=self.device)).item())
        if bad:
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.update()
        else:
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            clamp_logit_scale(self.raw_model)
            self.optimizer.zero_grad(set_to_none=True)
        out_losses = {"loss": float(total), **{k: float(v) for k, v in losses.items()}}
        residuals, n_samples = {}, 0
        if "image_features" in features:  # not in a text-tower stage
            residuals = {
                **cyclic_residuals(features["image_features"], features["text_features"]),
                "image_mean_cosine": mean_pairwise_cosine(features["image_features"]),
            }
            n_samples = int(features["image_features"].shape[0])
        return StepResult(
            losses=out_losses,
            residuals=residuals,
            grad_norm=float(grad_norm),
            updated=not bad,
            n_samples=n_samples,
        )


def _total(losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """The sum of the loss terms (the objective), added in order as ``sum()`` would."""
    terms = iter(losses.values())
    total = next(terms)
    for term in terms:
        total = total + term
    return total


def _detach(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in d.items()}
