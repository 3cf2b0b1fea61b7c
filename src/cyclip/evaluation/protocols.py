"""Evaluation protocols over extracted features: the metric groups of one result file.

Each function combines the pure metrics of this package for one kind of data and returns
``(metrics, details)``: ``metrics`` maps group -> name -> float (the result file's ``metrics``
block), ``details`` holds plain data for the report (per-class recall, histograms).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cyclip.evaluation.consistency import consistency_metrics
from cyclip.evaluation.features import ClassificationFeatures, PairFeatures, RetrievalFeatures
from cyclip.evaluation.fine_coarse import fine_coarse_metrics, superclass_index
from cyclip.evaluation.geometry import DEFAULT_MAX_POINTS, geometry_metrics, similarity_histograms
from cyclip.evaluation.linear_probe import LinearProbe, linear_probe_metrics
from cyclip.evaluation.retrieval import retrieval_metrics
from cyclip.evaluation.zero_shot import predict, zero_shot_metrics
from cyclip.types import ClassificationInfo

Metrics = dict[str, dict[str, float]]


@dataclass(frozen=True)
class ProtocolConfig:
    """Cut-offs and sizes shared by the protocols."""

    zero_shot_ks: tuple[int, ...] = (1, 3, 5)
    consistency_ks: tuple[int, ...] = (1, 3, 5, 10)
    retrieval_ks: tuple[int, ...] = (1, 5, 10)
    geometry_max_points: int = DEFAULT_MAX_POINTS
    """Subsample size of the pairwise geometry statistics."""
    histogram_bins: int = 50


def per_class_recall(predictions: Tensor, labels: Tensor, num_classes: int) -> list[float | None]:
    """Recall (%) of each class; ``None`` for classes absent from ``labels``."""
    out: list[float | None] = []
    for c in range(num_classes):
        mask = labels == c
        out.append(100.0 * (predictions[mask] == c).double().mean().item() if mask.any() else None)
    return out


def classification(
    test: ClassificationFeatures,
    classifier: Tensor,
    info: ClassificationInfo,
    train: ClassificationFeatures | None = None,
    probe: LinearProbe | None = None,
    config: ProtocolConfig = ProtocolConfig(),
) -> tuple[Metrics, dict]:
    """Zero-shot, plus consistency@k (with ``train``), linear probe (with ``probe``) and fine vs
    coarse (when ``info`` has superclasses).

    Args:
        test: (N, d) test image features and (N,) labels.
        classifier: (d, C) class text embeddings.
        info: class names, templates, superclasses of the test set.
        train: labelled train features for consistency@k.
        probe: a linear probe fitted on the train features.
        config: cut-offs.
    """
    if test.features.shape[0] == 0:
        raise ValueError("the test set has no readable images")
    metrics: Metrics = {
        "zero_shot": zero_shot_metrics(test.features, test.labels, classifier, config.zero_shot_ks)
    }
    predictions = predict(test.features, classifier)
    details: dict = {
        "classnames": list(info.classnames),
        "per_class_recall": per_class_recall(predictions, test.labels, len(info.classnames)),
        "n_templates": len(info.templates),
    }
    if train is not None:
        if train.features.shape[0] == 0:
            raise ValueError("the train split has no readable images (needed for consistency@k)")
        ks = tuple(k for k in config.consistency_ks if k <= train.features.shape[0])
        metrics["consistency"] = consistency_metrics(
            test.features, predictions, train.features, train.labels, test.labels, ks
        )
    if probe is not None:
        metrics["linear_probe"] = linear_probe_metrics(probe, test.features, test.labels)
    if info.superclasses is not None:
        names, index = superclass_index(info.superclasses)
        metrics["fine_coarse"] = fine_coarse_metrics(
            test.features, test.labels, classifier, index, config.zero_shot_ks
        )
        details["superclasses"] = names
    return metrics, details


def retrieval(
    features: RetrievalFeatures, config: ProtocolConfig = ProtocolConfig()
) -> tuple[Metrics, dict]:
    """Image <-> text Recall@k over images with any number of captions."""
    metrics = retrieval_metrics(
        features.image_features, features.text_features, features.text_to_image, config.retrieval_ks
    )
    counts = torch.bincount(features.text_to_image, minlength=features.image_features.shape[0])
    details = {
        "n_images": int(features.image_features.shape[0]),
        "n_captions": int(features.text_features.shape[0]),
        "captions_per_image": {"min": int(counts.min()), "max": int(counts.max())},
    }
    return {"retrieval": metrics}, details


def geometry(
    features: PairFeatures, config: ProtocolConfig = ProtocolConfig()
) -> tuple[Metrics, dict]:
    """Modality gap, alignment, uniformity, cyclic residuals and similarity histograms."""
    metrics = geometry_metrics(
        features.image_features, features.text_features, config.geometry_max_points
    )
    histograms = similarity_histograms(
        features.image_features,
        features.text_features,
        config.histogram_bins,
        config.geometry_max_points,
    )
    return {"geometry": metrics}, {"similarity_histogram": histograms}
