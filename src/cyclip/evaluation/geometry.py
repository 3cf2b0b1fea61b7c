"""Geometry of the joint embedding space (docs/method.md §4.6) on held-out pairs.

Row i of ``image_features`` and ``text_features`` is a matched pair; all features L2-normalised.

- ``modality_gap``: ``‖mean(I) − mean(T)‖`` (Liang et al., 2022).
- ``alignment``: ``E_i ‖I_i − T_i‖²`` over matched pairs (Wang & Isola, 2020); lower is better.
- ``uniformity_image`` / ``uniformity_text``: ``log E_{i≠j} exp(−2‖x_i − x_j‖²)`` within one
  modality, over distinct pairs; ``uniformity_cross``: the same over unmatched image-text pairs
  ``(I_i, T_j), i ≠ j``. More negative = more uniform. Computed on at most ``max_points`` points,
  a fixed seeded subsample, so the cost is bounded and the value reproducible.
- ``inmodal_cyclic`` / ``crossmodal_cyclic``: the cyclic residuals ``L_in`` and ``L_cross`` of
  docs/method.md §1.2 with the "mean" normalisation (÷N², the mean squared inconsistency), so
  the numbers are comparable across set sizes; the "paper" value is N times larger.
- ``matched_cosine`` / ``unmatched_cosine``: mean cosine similarity of matched / unmatched pairs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cyclip.losses import crossmodal_cyclic_loss, inmodal_cyclic_loss

DEFAULT_MAX_POINTS = 2048


def subsample(n: int, max_points: int, seed: int = 0) -> Tensor:
    """Indices of a fixed pseudo-random subset of ``range(n)`` of size ``min(n, max_points)``."""
    if n <= max_points:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)[:max_points].sort().values


def modality_gap(image_features: Tensor, text_features: Tensor) -> float:
    """``‖mean(I) − mean(T)‖`` for (N, d) image and (M, d) text features."""
    gap = image_features.double().mean(dim=0) - text_features.double().mean(dim=0)
    return gap.norm().item()


def alignment(image_features: Tensor, text_features: Tensor) -> float:
    """``E_i ‖I_i − T_i‖²`` over the N matched pairs of two (N, d) tensors."""
    return (image_features.double() - text_features.double()).square().sum(dim=1).mean().item()


def _log_mean_exp(values: Tensor) -> float:
    return (torch.logsumexp(values, dim=0) - math.log(values.numel())).item()


def _sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """(N, M) squared Euclidean distances of the rows of (N, d) ``x`` and (M, d) ``y``."""
    d2 = x.square().sum(1, keepdim=True) + y.square().sum(1).view(1, -1) - 2.0 * x @ y.T
    return d2.clamp_min(0.0)


def uniformity(features: Tensor, t: float = 2.0) -> float:
    """``log E_{i≠j} exp(−t ‖x_i − x_j‖²)`` over distinct pairs of the rows of (N, d) ``features``."""
    x = features.double()
    if x.shape[0] < 2:
        raise ValueError("uniformity needs at least two points")
    d2 = _sq_dists(x, x)
    off = ~torch.eye(x.shape[0], dtype=torch.bool)
    return _log_mean_exp(-t * d2[off])


def cross_uniformity(image_features: Tensor, text_features: Tensor, t: float = 2.0) -> float:
    """``log E_{i≠j} exp(−t ‖I_i − T_j‖²)`` over unmatched pairs of two (N, d) tensors."""
    x, y = image_features.double(), text_features.double()
    d2 = _sq_dists(x, y)
    off = ~torch.eye(x.shape[0], dtype=torch.bool)
    return _log_mean_exp(-t * d2[off])


def geometry_metrics(
    image_features: Tensor,
    text_features: Tensor,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
) -> dict[str, float]:
    """All geometry statistics of the module docstring for N matched pairs.

    Args:
        image_features: (N, d) L2-normalised image embeddings, N >= 2.
        text_features: (N, d) L2-normalised text embeddings; row i describes image i.
        max_points: pairwise statistics (uniformity, unmatched cosine) use a fixed subsample of at
            most this many pairs; gap, alignment, matched cosine and cyclic residuals use all N.
        seed: seed of that subsample.

    Returns:
        ``{"modality_gap", "alignment", "uniformity_image", "uniformity_text",
        "uniformity_cross", "inmodal_cyclic", "crossmodal_cyclic", "matched_cosine",
        "unmatched_cosine"}``.
    """
    if image_features.shape != text_features.shape or image_features.ndim != 2:
        raise ValueError(
            f"geometry needs paired (N, d) features, got {tuple(image_features.shape)} and "
            f"{tuple(text_features.shape)}"
        )
    if image_features.shape[0] < 2:
        raise ValueError("geometry needs at least two image-text pairs")
    images, texts = image_features.float(), text_features.float()
    idx = subsample(images.shape[0], max_points, seed)
    sub_i, sub_t = images[idx], texts[idx]
    cos = sub_i.double() @ sub_t.double().T  # (n, n)
    off = ~torch.eye(cos.shape[0], dtype=torch.bool)
    return {
        "modality_gap": modality_gap(images, texts),
        "alignment": alignment(images, texts),
        "uniformity_image": uniformity(sub_i),
        "uniformity_text": uniformity(sub_t),
        "uniformity_cross": cross_uniformity(sub_i, sub_t),
        "inmodal_cyclic": inmodal_cyclic_loss(images, texts, normalization="mean").item(),
        "crossmodal_cyclic": crossmodal_cyclic_loss(images, texts, normalization="mean").item(),
        "matched_cosine": (images * texts).sum(dim=1).mean().item(),
        "unmatched_cosine": cos[off].mean().item(),
    }


def similarity_histograms(
    image_features: Tensor,
    text_features: Tensor,
    bins: int = 50,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Histogram data of cosine similarity for matched vs unmatched pairs (for the report).

    Args:
        image_features, text_features: (N, d) L2-normalised, row i matched with row i.
        bins: equal-width bins over [-1, 1].
        max_points: unmatched pairs come from a fixed subsample of at most this many pairs.
        seed: seed of that subsample.

    Returns:
        ``{"bin_edges": bins+1 floats, "matched": densities, "unmatched": densities}``; each
        density integrates to 1 over [-1, 1] so the two are comparable despite different counts.
    """
    images, texts = image_features.float(), text_features.float()
    matched = (images * texts).sum(dim=1).double()
    idx = subsample(images.shape[0], max_points, seed)
    cos = images[idx].double() @ texts[idx].double().T
    unmatched = cos[~torch.eye(idx.numel(), dtype=torch.bool)]
    edges = torch.linspace(-1.0, 1.0, bins + 1, dtype=torch.float64)
    width = 2.0 / bins

    def density(values: Tensor) -> list[float]:
        counts = torch.histc(values.clamp(-1.0, 1.0), bins=bins, min=-1.0, max=1.0)
        return (counts / (counts.sum() * width)).tolist()

    return {
        "bin_edges": edges.tolist(),
        "matched": density(matched),
        "unmatched": density(unmatched),
    }
