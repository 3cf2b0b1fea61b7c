"""The validation loss logged by ``--run.eval-every``: the base objective's loss and the cyclic
residuals of held-out pairs, computed by the trainer itself (the evaluation suite lives in
cyclip.evaluation).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cyclip.data.timeouts import TRAIN_TIMEOUTS, LoaderTimeouts
from cyclip.losses import BASE_OBJECTIVES, crossmodal_cyclic_loss, inmodal_cyclic_loss
from cyclip.precision import Precision, autocast_context


def chunked_validation_metrics(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: float,
    batch_size: int,
    logit_bias: float | None = None,
    objective: str = "clip",
) -> dict[str, float]:
    """Loss terms of held-out pairs, averaged over consecutive chunks of ``batch_size`` pairs.

    The contrastive loss depends on how many negatives a pair competes with, so it is computed
    on chunks the size of the training batch to be comparable with the training curve. A last
    partial chunk is dropped unless it is the only one.

    Args:
        image_features, text_features: (N, d) normalised embeddings of N held-out pairs.
        logit_scale: exponentiated inverse temperature of the model.
        batch_size: chunk size (the global training batch).
        logit_bias: the model's bias (SigLIP models), or None.
        objective: base objective of the run (``clip``, ``siglip``): its single-process formula
            gives ``val_contrastive_loss``.

    Returns:
        ``val_contrastive_loss``, ``val_inmodal_residual`` and ``val_crossmodal_residual`` (both
        ÷N², unweighted) and ``val_pairs`` (pairs used).
    """
    formula = BASE_OBJECTIVES[objective].formula
    n = image_features.shape[0]
    size = min(batch_size, n)
    chunks = range(0, n - size + 1, size)
    sums = {
        "val_contrastive_loss": 0.0,
        "val_inmodal_residual": 0.0,
        "val_crossmodal_residual": 0.0,
    }
    for start in chunks:
        i = image_features[start : start + size].float()  # (b, d)
        t = text_features[start : start + size].float()  # (b, d)
        sums["val_contrastive_loss"] += float(formula(i, t, logit_scale, logit_bias))
        sums["val_inmodal_residual"] += float(inmodal_cyclic_loss(i, t, normalization="mean"))
        sums["val_crossmodal_residual"] += float(crossmodal_cyclic_loss(i, t, normalization="mean"))
    metrics = {k: v / len(chunks) for k, v in sums.items()}
    metrics["val_pairs"] = len(chunks) * size
    return metrics


class ValidationLoss:
    """Callable ``(model) -> metrics`` over a validation pair source.

    The loader is built on first use, so a run that never evaluates never opens the data. The
    decoded batches are kept in memory when they fit in ``cache_bytes``: later evaluations then
    cost only the forward passes.

    Args:
        source: pair source (path or ``builtin:...``) as understood by ``cyclip.data.open_pairs``.
        preprocess: deterministic image transform of the model.
        tokenizer: the model's tokenizer.
        batch_size: chunk size for the loss (the global training batch) and embedding batch.
        workers: DataLoader workers.
        device: where the model is.
        precision: autocast precision of the forward pass.
        objective: base objective of the run (``clip``, ``siglip``).
        cache_bytes: memory budget for keeping the preprocessed validation batches.
        timeouts: the loader's time limits (``DataConfig.timeouts``); default: the defaults.
    """

    def __init__(
        self,
        source: str,
        preprocess: Callable,
        tokenizer: Callable,
        *,
        batch_size: int,
        workers: int,
        device: torch.device,
        precision: Precision,
        objective: str = "clip",
        cache_bytes: int = 512 * 2**20,
        timeouts: LoaderTimeouts | None = None,
    ) -> None:
        self.objective = objective
        self.source = source
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.workers = workers
        self.device = device
        self.precision = precision
        self.cache_bytes = cache_bytes
        self.timeouts = timeouts or TRAIN_TIMEOUTS
        self._loader = None
        self._cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def _get_loader(self):
        if self._loader is None:
            from cyclip.data import build_eval_loader, open_pairs

            dataset = open_pairs(self.source)
            self._loader = build_eval_loader(
                dataset,
                self.preprocess,
                batch_size=self.batch_size,
                workers=self.workers,
                tokenizer=self.tokenizer,
                timeouts=self.timeouts,
                name=f"validation data loader of {self.source}",
            )
        return self._loader

    def _batches(self):
        """(images, texts) batches: from the memory cache, or loaded (and cached if they fit)."""
        if self._cache is not None:
            yield from self._cache
            return
        kept: list[tuple[torch.Tensor, torch.Tensor]] | None = []
        size = 0
        for batch in self._get_loader():
            pair = (batch["images"], batch["texts"])
            if kept is not None:
                size += sum(t.numel() * t.element_size() for t in pair)
                if size <= self.cache_bytes:
                    kept.append(pair)
                else:
                    kept = None
            yield pair
        self._cache = kept

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, float]:
        """Embed every validation pair with ``model`` (in eval mode) and compute the metrics."""
        was_training = model.training
        model.eval()
        images, texts = [], []
        try:
            for batch_images, batch_texts in self._batches():
                if batch_images.shape[0] == 0:  # every item of the batch was unreadable
                    continue
                with autocast_context(self.device, self.precision):
                    out = model(batch_images.to(self.device), batch_texts.to(self.device))
                images.append(out["image_features"].float())
                texts.append(out["text_features"].float())
            scale = float(out["logit_scale"])
            bias = float(out["logit_bias"]) if out.get("logit_bias") is not None else None
        finally:
            model.train(was_training)
        if not images:
            raise ValueError(f"validation source {self.source} yielded no pairs")
        return chunked_validation_metrics(
            torch.cat(images), torch.cat(texts), scale, self.batch_size, bias, self.objective
        )
