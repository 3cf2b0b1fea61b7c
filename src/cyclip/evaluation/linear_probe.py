"""Linear probe (docs/method.md §4.2): multinomial logistic regression on frozen image features.

Protocol (after Radford et al., 2021): standardise features with the train split's mean and
standard deviation; carve a stratified validation split from the train features with a fixed
seed; pick the inverse L2 strength C from a log grid by validation top-1; refit on the full train
split with that C; report test top-1 (%).

The objective is sklearn's ``LogisticRegression(C=C)`` (multinomial, unpenalised intercept),
``C · Σ CE + ½‖W‖²``, minimised by full-batch L-BFGS in torch. The grid is swept from strong to
weak regularisation, each fit warm-started from the previous solution, which makes the sweep
several times cheaper than independent sklearn fits. Everything is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LinearProbeConfig:
    """How the probe is fitted."""

    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
    """Candidate inverse L2 strengths (on standardised features), swept in increasing order."""
    val_fraction: float = 0.2
    """Share of each class held out to choose C."""
    max_iter: int = 300
    """L-BFGS iterations per fit."""
    seed: int = 0
    """Seed of the validation split."""

    def __post_init__(self) -> None:
        if not self.c_grid or min(self.c_grid) <= 0:
            raise ValueError(f"c_grid must hold positive values, got {self.c_grid}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")


@dataclass(frozen=True)
class LinearProbe:
    """A fitted probe and how it was chosen."""

    mean: Tensor
    """(d,) train feature mean used for standardisation."""
    std: Tensor
    """(d,) train feature standard deviation."""
    weight: Tensor
    """(d, K) weights over standardised features."""
    bias: Tensor
    """(K,)."""
    classes: Tensor
    """(K,) the class index of each output column (the classes seen in training)."""
    c: float
    """The selected inverse regularisation strength."""
    val_top1: float
    """Validation top-1 (%) of the selected C."""

    def logits(self, features: Tensor) -> Tensor:
        """(N, d) features -> (N, K) class scores."""
        x = (features.detach().float().cpu() - self.mean) / self.std
        return x @ self.weight + self.bias

    def predict(self, features: Tensor) -> Tensor:
        """(N, d) features -> (N,) predicted class indices."""
        return self.classes[self.logits(features).argmax(dim=1)]

    def to_tensors(self) -> dict[str, Tensor]:
        """Plain tensors, for the feature cache (``weights_only`` loading)."""
        return {
            "mean": self.mean,
            "std": self.std,
            "weight": self.weight,
            "bias": self.bias,
            "classes": self.classes,
            "c": torch.tensor(self.c, dtype=torch.float64),
            "val_top1": torch.tensor(self.val_top1, dtype=torch.float64),
        }

    @classmethod
    def from_tensors(cls, t: dict[str, Tensor]) -> LinearProbe:
        """Inverse of :meth:`to_tensors`."""
        return cls(
            t["mean"],
            t["std"],
            t["weight"],
            t["bias"],
            t["classes"],
            float(t["c"]),
            float(t["val_top1"]),
        )


def stratified_split(labels: Tensor, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (train, val): ``round(val_fraction · n_c)`` of each class's n_c items go to val,
    always leaving at least one of each class in train; chosen with a seeded permutation."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in labels.unique().tolist():
        members = torch.nonzero(labels == c).view(-1)
        members = members[torch.randperm(members.numel(), generator=generator)]
        n_val = min(round(val_fraction * members.numel()), members.numel() - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run small dense ops on one thread: a probe's matrices are tiny, and with a busy second
    core intra-op thread synchronisation made each L-BFGS step up to 100x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(
    x: Tensor, y: Tensor, c: float, max_iter: int, init: tuple[Tensor, Tensor]
) -> tuple[Tensor, Tensor]:
    """Minimise ``mean CE(x W + b, y) + ‖W‖² / (2 C n)``, sklearn's objective divided by C·n.

    Args:
        x: (n, d) standardised features.
        y: (n,) targets in ``[0, K)``.
        c: inverse regularisation strength.
        max_iter: L-BFGS iterations.
        init: starting ``(W (d, K), b (K,))``.
    """
    weight = init[0].clone().requires_grad_(True)
    bias = init[1].clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-5,
        tolerance_change=1e-9,
        history_size=10,
        line_search_fn="strong_wolfe",
    )
    penalty = 0.5 / (c * x.shape[0])

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + penalty * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad(), _single_thread():  # callers may sit under inference_mode
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def _accuracy(x: Tensor, y: Tensor, params: tuple[Tensor, Tensor]) -> float:
    return 100.0 * ((x @ params[0] + params[1]).argmax(dim=1) == y).double().mean().item()


def fit_linear_probe(
    train_features: Tensor, train_labels: Tensor, config: LinearProbeConfig = LinearProbeConfig()
) -> LinearProbe:
    """Choose C on a validation split of the train features, then refit on all of them.

    Args:
        train_features: (M, d) frozen image embeddings of the labelled train split.
        train_labels: (M,) class indices; at least two classes.
        config: grid, validation share, iterations, seed.

    Returns:
        The fitted :class:`LinearProbe`.
    """
    labels = train_labels.detach().long().view(-1).cpu()
    if train_features.shape[0] != labels.numel():
        raise ValueError(f"{train_features.shape[0]} train features but {labels.numel()} labels")
    classes, y = labels.unique(return_inverse=True)  # columns only for classes seen in training
    if classes.numel() < 2:
        raise ValueError("a linear probe needs train images from at least two classes")
    features = train_features.detach().float().cpu()
    mean, std = features.mean(dim=0), features.std(dim=0).clamp_min(1e-6)
    x = (features - mean) / std  # (M, d)
    zeros = (torch.zeros(x.shape[1], classes.numel()), torch.zeros(classes.numel()))
    tr, va = stratified_split(labels, config.val_fraction, config.seed)
    best_c, best_acc, best_params = config.c_grid[0], -1.0, zeros
    if va.numel() > 0:
        params = zeros
        for c in sorted(config.c_grid):
            params = _fit(x[tr], y[tr], c, config.max_iter, params)
            acc = _accuracy(x[va], y[va], params)
            if acc > best_acc:  # strict: ties keep the smaller C (stronger regularisation)
                best_c, best_acc, best_params = c, acc, params
    weight, bias = _fit(x, y, best_c, config.max_iter, best_params)
    return LinearProbe(mean, std, weight, bias, classes, best_c, max(best_acc, 0.0))


def linear_probe_metrics(probe: LinearProbe, test_features: Tensor, test_labels: Tensor) -> dict:
    """Test top-1 (%) of a fitted probe, with the chosen C and its validation top-1.

    Args:
        probe: from :func:`fit_linear_probe`.
        test_features: (N, d) image embeddings of the test split.
        test_labels: (N,) class indices.

    Returns:
        ``{"top1", "c", "val_top1"}``.
    """
    predictions = probe.predict(test_features)
    top1 = 100.0 * (predictions == test_labels.long().view(-1).cpu()).double().mean().item()
    return {"top1": top1, "c": probe.c, "val_top1": probe.val_top1}


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    config: LinearProbeConfig = LinearProbeConfig(),
) -> dict:
    """Fit on train, score on test: :func:`fit_linear_probe` then :func:`linear_probe_metrics`."""
    probe = fit_linear_probe(train_features, train_labels, config)
    return linear_probe_metrics(probe, test_features, test_labels)
