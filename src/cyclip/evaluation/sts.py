"""Semantic textual similarity (STS): how well the text tower works as a sentence encoder.

The protocol of SentEval / SimCSE / MTEB: embed both sentences of each pair with the model's
text tower, L2-normalised exactly as for retrieval; the predicted similarity of a pair is the
cosine of its two embeddings; the score is the Spearman (main) and Pearson correlation of the
predictions with the gold scores, times 100.

Metric groups of a result (:func:`sts_metrics`):

- ``sts``: ``spearman``, ``pearson`` over every pair of the set (for a SentEval folder this is
  SentEval's ``all``: the correlation over all subsets concatenated, the number SimCSE reports);
- ``sts_genre``: ``<genre>/spearman``, ``<genre>/pearson`` per genre (STS Benchmark: news,
  captions, forums);
- ``sts_subset``: the same per SentEval subset, and ``sts_aggregate``: SentEval's aggregates
  ``all/…``, ``mean/…`` (unweighted mean over subsets) and ``wmean/…`` (mean weighted by the
  subsets' sizes).

A correlation that is undefined (fewer than two pairs, constant gold or predictions) is NaN,
written as null in the result file.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch.nn.functional as F
from scipy import stats
from torch import Tensor

from cyclip.evaluation.schema import make_result

ArrayLike = Sequence[float] | np.ndarray | Tensor
"""Anything ``np.asarray`` turns into a 1-D float array."""

if TYPE_CHECKING:
    from cyclip.data.sts import STSSet
    from cyclip.evaluation.run import Evaluator

CORRELATIONS = ("spearman", "pearson")


def cosine_scores(embeddings1: Tensor, embeddings2: Tensor) -> Tensor:
    """(N,) cosine similarity of row i of two (N, d) embedding tensors (normalised here)."""
    if embeddings1.shape != embeddings2.shape or embeddings1.ndim != 2:
        raise ValueError(
            f"cosine_scores needs two (N, d) tensors of one shape, got "
            f"{tuple(embeddings1.shape)} and {tuple(embeddings2.shape)}"
        )
    a = F.normalize(embeddings1.double(), dim=-1)
    b = F.normalize(embeddings2.double(), dim=-1)
    return (a * b).sum(dim=-1)


def correlations(predicted: ArrayLike, gold: ArrayLike) -> dict[str, float]:
    """``{"spearman", "pearson"}`` x100 of predictions against gold (scipy.stats); NaN when
    undefined."""
    x = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(gold, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"{x.shape} predictions for {y.shape} gold scores")
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"spearman": float("nan"), "pearson": float("nan")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant input: scipy warns, the value stands
        spearman = stats.spearmanr(x, y).statistic
        pearson = stats.pearsonr(x, y).statistic
    return {"spearman": 100.0 * float(spearman), "pearson": 100.0 * float(pearson)}


def group_correlations(
    predicted: ArrayLike, gold: ArrayLike, groups: Sequence[str]
) -> dict[str, dict[str, float]]:
    """:func:`correlations` within each group, groups in first-seen order."""
    x = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(gold, dtype=np.float64)
    labels = np.asarray(groups, dtype=object)
    if labels.shape != y.shape:
        raise ValueError(f"{labels.size} group labels for {y.size} pairs")
    out = {}
    for name in dict.fromkeys(groups):
        mask = labels == name
        out[name] = correlations(x[mask], y[mask])
    return out


def senteval_aggregates(
    predicted: ArrayLike, gold: ArrayLike, subsets: Sequence[str]
) -> dict[str, float]:
    """SentEval's aggregates over subsets: ``all/<c>`` (one correlation over all pairs),
    ``mean/<c>`` (mean of the subsets' correlations) and ``wmean/<c>`` (that mean weighted by
    the subsets' sizes), for c in spearman, pearson."""
    per = group_correlations(predicted, gold, subsets)
    sizes = np.array([sum(1 for s in subsets if s == name) for name in per], dtype=np.float64)
    out = {f"all/{c}": v for c, v in correlations(predicted, gold).items()}
    for c in CORRELATIONS:
        values = np.array([per[name][c] for name in per])
        out[f"mean/{c}"] = float(np.mean(values))
        out[f"wmean/{c}"] = float(np.average(values, weights=sizes))
    return out


def sts_metrics(
    predicted: ArrayLike,
    gold: ArrayLike,
    groups: Sequence[str] | None = None,
    group_kind: str | None = None,
) -> tuple[dict[str, dict[str, float]], dict]:
    """The metric groups of the module docstring, and details (group sizes, score ranges).

    Args:
        predicted: (N,) predicted similarities (cosines).
        gold: (N,) gold scores.
        groups: per pair, its genre or subset (``None``: no per-group results).
        group_kind: ``"genre"`` or ``"subset"`` (subsets also get SentEval's aggregates).
    """
    x = np.asarray(predicted, dtype=np.float64)
    metrics: dict[str, dict[str, float]] = {"sts": correlations(x, gold)}
    details: dict = {
        "n_pairs": int(x.size),
        "predicted": {"mean": float(x.mean()), "min": float(x.min()), "max": float(x.max())},
        "gold": {"min": float(np.min(gold)), "max": float(np.max(gold))},
    }
    if groups is not None:
        kind = group_kind or "genre"
        per = group_correlations(x, gold, groups)
        metrics[f"sts_{kind}"] = {
            f"{g}/{c}": v for g, values in per.items() for c, v in values.items()
        }
        details[f"{kind}_sizes"] = {g: sum(1 for s in groups if s == g) for g in per}
        if kind == "subset":
            metrics["sts_aggregate"] = senteval_aggregates(x, gold, groups)
    return metrics, details


def evaluate_sts(evaluator: Evaluator, data: STSSet) -> dict:
    """The ``sts`` result document of ``evaluator``'s model on an opened STS set."""
    extractor = evaluator.extractor
    start, first = time.perf_counter(), len(extractor.records)
    n = len(data)
    features = extractor.texts([*data.sentences1, *data.sentences2], data.fingerprint)
    metric_start = time.perf_counter()
    predicted = cosine_scores(features[:n], features[n:])
    metrics, details = sts_metrics(predicted, data.scores, data.groups, data.group_kind)
    details["unique_sentences"] = len(set(data.sentences1) | set(data.sentences2))
    timing = {
        "total_s": time.perf_counter() - start,
        "metrics_s": time.perf_counter() - metric_start,
        "extraction": [r.to_dict() for r in extractor.records[first:]],
    }
    return make_result("sts", evaluator.model.to_dict(), data.describe(), metrics, timing, details)
