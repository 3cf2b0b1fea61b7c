"""One evaluation run = one data source (plus an optional train split) -> one result document.

:class:`Evaluator` ties a :class:`FeatureExtractor` (features, cached) to the protocols (metrics)
and the schema (result documents with model, dataset and timing blocks).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from cyclip.evaluation import compositional, protocols
from cyclip.evaluation.cache import cache_key
from cyclip.evaluation.compositional_sets import CompositionalSet
from cyclip.evaluation.features import ClassificationFeatures, FeatureExtractor
from cyclip.evaluation.linear_probe import LinearProbe, LinearProbeConfig, fit_linear_probe
from cyclip.evaluation.load import ModelInfo
from cyclip.evaluation.protocols import ProtocolConfig
from cyclip.evaluation.schema import make_result
from cyclip.evaluation.sources import Source


@dataclass
class Evaluator:
    """Evaluates one model on data sources, one result document per call.

    Args:
        extractor: embeds data with the model (through the feature cache).
        model: where the model came from (the result's ``model`` block).
        protocol: metric cut-offs and sizes.
        probe: linear-probe settings; ``None`` skips the linear probe.
    """

    extractor: FeatureExtractor
    model: ModelInfo
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    probe: LinearProbeConfig | None = field(default_factory=LinearProbeConfig)
    _probes: dict = field(default_factory=dict, repr=False)

    def _finish(
        self,
        task: str,
        dataset: dict,
        metrics: protocols.Metrics,
        details: dict,
        start: float,
        metric_s: float,
        first_record: int,
    ) -> dict:
        timing = {
            "total_s": time.perf_counter() - start,
            "metrics_s": metric_s,
            "extraction": [r.to_dict() for r in self.extractor.records[first_record:]],
        }
        return make_result(task, self.model.to_dict(), dataset, metrics, timing, details)

    def fit_probe(
        self, train: ClassificationFeatures, train_fingerprint: str | None = None
    ) -> LinearProbe | None:
        """A linear probe on ``train``, or ``None`` when disabled.

        With the train data's fingerprint, the fitted probe is memoised for this evaluator and
        kept in the feature cache, so a re-run (or a second test split) costs no fit.
        """
        if self.probe is None:
            return None
        if train_fingerprint in self._probes:
            return self._probes[train_fingerprint]
        key = self.extractor.key_for("linear-probe", train_fingerprint, config=asdict(self.probe))
        cached = self.extractor.cache.load(key)
        if cached is not None:
            probe = LinearProbe.from_tensors(cached)
        else:
            probe = fit_linear_probe(train.features, train.labels, self.probe)
            self.extractor.cache.save(key, probe.to_tensors(), meta={"kind": "linear-probe"})
        if train_fingerprint is not None:
            self._probes[train_fingerprint] = probe
        return probe

    def classification(self, test: Source, train: Source | None = None) -> dict:
        """Zero-shot (+ consistency@k and linear probe with ``train``, + fine vs coarse when the
        classes have superclasses) on a labelled source."""
        start, first = time.perf_counter(), len(self.extractor.records)
        test_features = self.extractor.classification(test.dataset, test.fingerprint)
        train_features = None
        if train is not None:
            train_features = self.extractor.classification(train.dataset, train.fingerprint)
        return self.classification_from_features(
            test, test_features, train, train_features, start=start, first_record=first
        )

    def classification_from_features(
        self,
        test: Source,
        test_features: ClassificationFeatures,
        train: Source | None = None,
        train_features: ClassificationFeatures | None = None,
        *,
        start: float | None = None,
        first_record: int | None = None,
    ) -> dict:
        """As :meth:`classification`, with features already extracted (the builtin suite reuses
        one set of image features for the three label factors of a split)."""
        start = time.perf_counter() if start is None else start
        first_record = len(self.extractor.records) if first_record is None else first_record
        info = test.info
        if info is None:
            raise ValueError(f"{test.source} has no class names: it is not a classification source")
        classifier = self.extractor.classifier(info.classnames, info.templates)
        metric_start = time.perf_counter()
        probe, details_extra = None, {}
        if train_features is not None:
            unseen = set(test_features.labels.tolist()) - set(train_features.labels.tolist())
            if unseen:
                details_extra["linear_probe_skipped"] = (
                    f"{len(unseen)} test classes never occur in the train split"
                )
            else:
                probe = self.fit_probe(train_features, train.fingerprint if train else None)
        metrics, details = protocols.classification(
            test_features, classifier, info, train_features, probe, self.protocol
        )
        details.update(details_extra)
        dataset = {
            **test.describe(),
            "n": int(test_features.labels.numel()),
            "skipped": test_features.skipped,
            # The data fingerprint covers the images only; which prompts were used is part of
            # what was evaluated (and of the result's identity, schema.evaluation_id).
            "prompts": cache_key(
                classnames=list(info.classnames),
                templates=list(info.templates),
                superclasses=info.superclasses,
            )[:16],
        }
        if train is not None and train_features is not None:
            dataset["train_source"] = train.source
            dataset["train_n"] = int(train_features.labels.numel())
        return self._finish(
            "zeroshot",
            dataset,
            metrics,
            details,
            start,
            time.perf_counter() - metric_start,
            first_record,
        )

    def retrieval(self, data: Source) -> dict:
        """Image <-> text Recall@k on a source of images with captions."""
        start, first = time.perf_counter(), len(self.extractor.records)
        features = self.extractor.retrieval(data.dataset, data.fingerprint)
        if features.image_features.shape[0] == 0:
            raise ValueError(f"{data.source}: no readable images to evaluate retrieval on")
        metric_start = time.perf_counter()
        metrics, details = protocols.retrieval(features, self.protocol)
        dataset = {
            **data.describe(),
            "n": int(features.image_features.shape[0]),
            "skipped": features.skipped,
        }
        return self._finish(
            "retrieval", dataset, metrics, details, start, time.perf_counter() - metric_start, first
        )

    def geometry(self, data: Source) -> dict:
        """Modality gap, alignment, uniformity, cyclic residuals on held-out pairs."""
        start, first = time.perf_counter(), len(self.extractor.records)
        features = self.extractor.pairs(data.dataset, data.fingerprint)
        metric_start = time.perf_counter()
        metrics, details = protocols.geometry(features, self.protocol)
        dataset = {
            **data.describe(),
            "n": int(features.image_features.shape[0]),
            "skipped": features.skipped,
        }
        return self._finish(
            "geometry", dataset, metrics, details, start, time.perf_counter() - metric_start, first
        )

    def compositional(self, data: CompositionalSet) -> dict:
        """Image-text vs text-only caption preference on a compositional set (SugarCrepe, the
        builtin ``shapes/compositional``, N-caption files, Winoground-style groups)."""
        start, first = time.perf_counter(), len(self.extractor.records)
        features = self.extractor.compositional(data.images, data.texts(), data.fingerprint)
        metric_start = time.perf_counter()
        metrics, details, dataset = compositional.protocol(data, features)
        return self._finish(
            "compositional",
            dataset,
            metrics,
            details,
            start,
            time.perf_counter() - metric_start,
            first,
        )


def relabel(features: ClassificationFeatures, labels: torch.Tensor) -> ClassificationFeatures:
    """The same image features with other labels (another label factor of the same images)."""
    if labels.shape != features.labels.shape:
        raise ValueError(f"{labels.numel()} labels for {features.labels.numel()} images")
    return ClassificationFeatures(features.features, labels.long(), features.skipped)
