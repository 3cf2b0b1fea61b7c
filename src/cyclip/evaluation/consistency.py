"""Consistency@k: does the zero-shot (cross-modal) prediction agree with k-NN (in-modal)?

docs/method.md §4.3 (the paper's consistency score): per test image, the cross-modal guess is the
zero-shot class and the in-modal prediction is the majority label of its k nearest labelled train
images by cosine similarity, ties broken by shrinking k until a single mode remains.
Consistency@k is the percentage of test images where both agree; k-NN accuracy@k is reported
beside it. The train set must not contain the test images (no self-exclusion is done).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# Test rows processed at once: the vote works on (chunk, K, K) tensors.
_CHUNK = 2048


def nearest_labels(
    query_features: Tensor, train_features: Tensor, train_labels: Tensor, k: int
) -> Tensor:
    """Labels of the ``k`` most cosine-similar train embeddings of each query, nearest first.

    Args:
        query_features: (N, d) L2-normalised.
        train_features: (M, d) L2-normalised.
        train_labels: (M,) class indices.
        k: neighbours, at most M.

    Returns:
        LongTensor (N, k).
    """
    out = torch.empty(query_features.shape[0], k, dtype=torch.long)
    train = train_features.float()
    labels = train_labels.long()
    for start in range(0, query_features.shape[0], _CHUNK):
        sims = query_features[start : start + _CHUNK].float() @ train.T  # (b, M)
        idx = sims.topk(k, dim=1).indices  # (b, k), most similar first
        out[start : start + _CHUNK] = labels[idx]
    return out


def knn_vote(neighbour_labels: Tensor) -> Tensor:
    """Majority vote at every prefix length, ties broken by shrinking k.

    ``pred[:, k-1]`` is the vote among the first k neighbours: the unique most frequent label if
    there is one, otherwise the vote among the first k-1 (recursively; k = 1 is never tied).
    Working on label equalities among neighbours keeps the cost O(N K²), independent of the
    number of classes.

    Args:
        neighbour_labels: (N, K) labels of each query's neighbours, nearest first.

    Returns:
        LongTensor (N, K).
    """
    n, kmax = neighbour_labels.shape
    same = neighbour_labels.unsqueeze(2) == neighbour_labels.unsqueeze(1)  # (N, K, K)
    # counts[:, k-1, j] = occurrences of neighbour j's label among the first k neighbours
    counts = same.to(torch.int32).cumsum(dim=1)  # (N, K, K)
    preds = torch.empty(n, kmax, dtype=torch.long)
    preds[:, 0] = neighbour_labels[:, 0]
    big = torch.iinfo(torch.long).max
    for k in range(2, kmax + 1):
        c = counts[:, k - 1, :k]  # (N, k) count of each of the first k neighbours' labels
        top = c.amax(dim=1, keepdim=True)  # (N, 1)
        is_mode = c == top  # (N, k)
        labels = neighbour_labels[:, :k]
        lo = labels.masked_fill(~is_mode, big).amin(dim=1)  # (N,)
        hi = labels.masked_fill(~is_mode, -1).amax(dim=1)  # (N,)
        preds[:, k - 1] = torch.where(lo == hi, lo, preds[:, k - 2])
    return preds


def consistency_metrics(
    test_features: Tensor,
    zero_shot_predictions: Tensor,
    train_features: Tensor,
    train_labels: Tensor,
    test_labels: Tensor | None = None,
    ks: Sequence[int] = (1, 3, 5, 10),
) -> dict[str, float]:
    """Consistency@k and k-NN accuracy@k (%), docs/method.md §4.3.

    Args:
        test_features: (N, d) L2-normalised test image embeddings.
        zero_shot_predictions: (N,) zero-shot class of each test image (see
            :func:`cyclip.evaluation.zero_shot.predict`).
        train_features: (M, d) L2-normalised labelled train image embeddings.
        train_labels: (M,) their class indices.
        test_labels: (N,) true test classes; when given, ``knn_accuracy@k`` is reported too.
        ks: neighbourhood sizes, each at most M.

    Returns:
        ``{"consistency@1", ..., "knn_accuracy@1", ...}``.
    """
    ks = sorted(set(ks))
    _check(test_features, zero_shot_predictions, train_features, train_labels, ks)
    neighbours = nearest_labels(test_features, train_features, train_labels, ks[-1])
    votes = torch.cat(
        [knn_vote(neighbours[s : s + _CHUNK]) for s in range(0, neighbours.shape[0], _CHUNK)]
    )  # (N, kmax)
    zs = zero_shot_predictions.long().view(-1)
    metrics = {}
    for k in ks:
        metrics[f"consistency@{k}"] = 100.0 * (votes[:, k - 1] == zs).double().mean().item()
    if test_labels is not None:
        for k in ks:
            acc = (votes[:, k - 1] == test_labels.long().view(-1)).double().mean().item()
            metrics[f"knn_accuracy@{k}"] = 100.0 * acc
    return metrics


def _check(
    test_features: Tensor,
    zero_shot_predictions: Tensor,
    train_features: Tensor,
    train_labels: Tensor,
    ks: list[int],
) -> None:
    if not ks or ks[0] < 1:
        raise ValueError(f"consistency ks must be positive integers, got {ks}")
    if test_features.shape[0] == 0:
        raise ValueError("consistency needs at least one test image")
    if zero_shot_predictions.shape != (test_features.shape[0],):
        raise ValueError(
            f"zero_shot_predictions must be ({test_features.shape[0]},), "
            f"got {tuple(zero_shot_predictions.shape)}"
        )
    if train_labels.shape != (train_features.shape[0],):
        raise ValueError(
            f"train_labels must be ({train_features.shape[0]},), got {tuple(train_labels.shape)}"
        )
    if ks[-1] > train_features.shape[0]:
        raise ValueError(
            f"consistency@{ks[-1]} needs at least {ks[-1]} train images, got "
            f"{train_features.shape[0]}; pass a larger --train-data set or smaller ks"
        )
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(
            f"test features have d={test_features.shape[1]}, train features "
            f"d={train_features.shape[1]}: were they extracted with the same model?"
        )
