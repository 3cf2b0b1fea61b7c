"""The builtin evaluation suite: the paper's protocols on the synthetic world (docs/method.md §4.9).

For each label factor (shape, colour, colour-shape): zero-shot on the test split and on each
shifted split (sketch, noisy, novel), consistency@k and a linear probe with the train split,
fine vs coarse for colour-shape (superclass = shape); retrieval on ``shapes/retrieval``; geometry
on ``shapes/val``; a robustness table per factor; true caption vs hard negative on
``shapes/compositional``; sentence similarity of the text tower on ``shapes/sts``. The three
factors label the same images of a split, so each split's images are embedded once and
relabelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from cyclip.evaluation.features import ExtractConfig
from cyclip.evaluation.linear_probe import LinearProbeConfig
from cyclip.evaluation.load import ModelInfo
from cyclip.evaluation.protocols import ProtocolConfig
from cyclip.evaluation.robustness import robustness_table
from cyclip.evaluation.run import Evaluator, relabel
from cyclip.evaluation.schema import make_result, result_filename
from cyclip.evaluation.sources import (
    Source,
    builtin_source,
    open_classification_source,
    open_pairs_source,
    open_retrieval_source,
)

FACTORS = ("shape", "colour", "colour-shape")
SHIFTS = ("sketch", "noisy", "novel")


@dataclass(frozen=True)
class SuiteConfig:
    """Which parts of the builtin suite run, and on how many items."""

    factors: tuple[str, ...] = FACTORS
    shifts: tuple[str, ...] = SHIFTS
    """Shifted splits evaluated beside ``test``; empty for in-distribution only."""
    consistency: bool = True
    """Consistency@k and k-NN accuracy against the train split."""
    linear_probe: bool = True
    retrieval: bool = True
    geometry: bool = True
    test_size: int | None = None
    """Images per test / shifted split (None: the world's default)."""
    train_size: int | None = None
    """Labelled train images for consistency@k and the linear probe (None: default)."""
    retrieval_size: int | None = None
    geometry_size: int | None = None
    compositional: bool = True
    """True caption vs hard negative on ``shapes/compositional`` (binding, relation, count)."""
    compositional_size: int | None = None
    """Compositional items (None: the world's default, 200 per category)."""
    sts: bool = True
    """Sentence similarity of the text tower on ``shapes/sts`` (text only, seconds)."""
    sts_size: int | None = None
    """Caption pairs of ``shapes/sts`` (None: the world's default)."""
    image_size: int = 64
    """Render size of the world's images (the model's transform resizes them)."""
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    probe: LinearProbeConfig = field(default_factory=LinearProbeConfig)

    def __post_init__(self) -> None:
        bad = [f for f in self.factors if f not in FACTORS]
        if bad:
            raise ValueError(f"unknown label factors {bad}; choose from {FACTORS}")
        bad = [s for s in self.shifts if s not in SHIFTS]
        if bad:
            raise ValueError(f"unknown shifts {bad}; choose from {SHIFTS}")


QUICK_SUITE = SuiteConfig(
    shifts=(),
    linear_probe=False,
    geometry=False,
    test_size=500,
    train_size=1000,
    retrieval_size=300,
    compositional=False,
    sts_size=500,
)
"""A seconds-scale subset for periodic evaluation during training."""

DEFAULT_EXTRACT = ExtractConfig()
PERIODIC_EXTRACT = ExtractConfig(workers=0)
"""In-process decoding: the periodic hook runs inside the trainer, beside its own workers."""


def _world_labels(source: Source) -> torch.Tensor:
    """Labels of a builtin classification set, read from scene descriptions (no rendering)."""
    ds = source.dataset
    return torch.tensor([ds.describe_item(i)[1] for i in range(len(ds))], dtype=torch.long)


def _split_sources(split: str, config: SuiteConfig) -> dict[str, Source]:
    size = config.train_size if split == "train" else config.test_size
    return {
        f: open_classification_source(
            builtin_source(f"shapes/{f}/{split}", size, config.image_size)
        )
        for f in config.factors
    }


def _classification_results(evaluator: Evaluator, config: SuiteConfig) -> dict[str, dict]:
    results: dict[str, dict] = {}
    extractor = evaluator.extractor
    # The first result's timing includes the train split's extraction, which it triggered.
    start, first_record = time.perf_counter(), len(extractor.records)
    train_sources, train_features = None, {}
    if config.consistency or config.linear_probe:
        train_sources = _split_sources("train", config)
        first = train_sources[config.factors[0]]
        shared = extractor.classification(first.dataset, first.fingerprint)
        for factor, source in train_sources.items():
            train_features[factor] = relabel(shared, _world_labels(source))
    for split in ("test", *config.shifts):
        sources = _split_sources(split, config)
        first = sources[config.factors[0]]
        shared = extractor.classification(first.dataset, first.fingerprint)
        for factor, source in sources.items():
            features = relabel(shared, _world_labels(source))
            train = train_sources[factor] if train_sources else None
            result = evaluator.classification_from_features(
                source,
                features,
                train,
                train_features.get(factor),
                start=start,
                first_record=first_record,
            )
            results[result_filename(source.name, "zeroshot")] = result
            start, first_record = time.perf_counter(), len(extractor.records)
    return results


def robustness_result(
    classification: dict[str, dict], model: ModelInfo, shifts: tuple[str, ...]
) -> dict:
    """The per-factor robustness document from the suite's zero-shot results."""
    by_factor: dict[str, dict[str, float]] = {}
    for result in classification.values():
        _, factor, split = result["dataset"]["name"].split("/")
        by_factor.setdefault(factor, {})[split] = result["metrics"]["zero_shot"]["top1"]
    metrics, tables = {}, {}
    for factor, splits in by_factor.items():
        table = robustness_table({model.name: splits}, in_distribution="test")
        tables[factor] = table
        group = {"test/top1": splits["test"]}
        for row in table["rows"]:
            group[f"{row['shift']}/top1"] = row["shifted"]
            group[f"{row['shift']}/relative_robustness"] = row["relative_robustness"]
            if "effective_robustness" in row:
                group[f"{row['shift']}/effective_robustness"] = row["effective_robustness"]
        metrics[factor] = group
    dataset = {
        "source": "builtin:shapes",
        "name": "shapes",
        "n": len(classification),
        "shifts": list(shifts),
    }
    timing = {"total_s": 0.0, "metrics_s": 0.0, "extraction": []}
    return make_result("robustness", model.to_dict(), dataset, metrics, timing, {"tables": tables})


@dataclass(frozen=True)
class SuitePart:
    """One part of the builtin suite: when it runs, and what it adds.

    ``run(evaluator, config, results)`` returns ``{file name: result}``; ``results`` holds what
    the parts before it produced (robustness is derived from the zero-shot results).
    """

    name: str
    enabled: Callable[[SuiteConfig], bool]
    run: Callable[[Evaluator, SuiteConfig, dict[str, dict]], dict[str, dict]]


def _robustness_part(evaluator: Evaluator, config: SuiteConfig, results: dict) -> dict:
    robust = robustness_result(results, evaluator.model, config.shifts)
    return {result_filename("shapes", "robustness"): robust}


def _retrieval_part(evaluator: Evaluator, config: SuiteConfig, results: dict) -> dict:
    source = open_retrieval_source(
        builtin_source("shapes/retrieval", config.retrieval_size, config.image_size)
    )
    return {result_filename(source.name, "retrieval"): evaluator.retrieval(source)}


def _geometry_part(evaluator: Evaluator, config: SuiteConfig, results: dict) -> dict:
    source = open_pairs_source(
        builtin_source("shapes/val", config.geometry_size, config.image_size)
    )
    return {result_filename(source.name, "geometry"): evaluator.geometry(source)}


def _compositional_part(evaluator: Evaluator, config: SuiteConfig, results: dict) -> dict:
    from cyclip.evaluation.compositional_sets import builtin_compositional

    data = builtin_compositional(
        builtin_source("shapes/compositional", config.compositional_size, config.image_size)
    )
    return {result_filename(data.name, "compositional"): evaluator.compositional(data)}


def _sts_part(evaluator: Evaluator, config: SuiteConfig, results: dict) -> dict:
    from cyclip.data.sts import read_builtin
    from cyclip.evaluation.sts import evaluate_sts

    data = read_builtin(builtin_source("shapes/sts", config.sts_size))
    return {result_filename(data.name, "sts"): evaluate_sts(evaluator, data)}


SUITE_PARTS: list[SuitePart] = [
    SuitePart("classification", lambda c: True, lambda e, c, r: _classification_results(e, c)),
    SuitePart("robustness", lambda c: bool(c.shifts), _robustness_part),
    SuitePart("retrieval", lambda c: c.retrieval, _retrieval_part),
    SuitePart("geometry", lambda c: c.geometry, _geometry_part),
    SuitePart("compositional", lambda c: c.compositional, _compositional_part),
    SuitePart("sts", lambda c: c.sts, _sts_part),
]
"""The builtin suite, in order. A new builtin task appends its part (and a ``SuiteConfig``
switch and size for it)."""


def run_suite(evaluator: Evaluator, config: SuiteConfig = SuiteConfig()) -> dict[str, dict]:
    """Run the builtin suite with an :class:`Evaluator`; returns ``{file name: result}``."""
    results: dict[str, dict] = {}
    for part in SUITE_PARTS:
        if part.enabled(config):
            results.update(part.run(evaluator, config, results))
    return results


def headline_metrics(results: dict[str, dict]) -> dict[str, float]:
    """Flatten suite results to ``{"<dataset>/<group>/<metric>": value}`` for logs."""
    flat = {}
    for result in results.values():
        name = result["dataset"]["name"]
        for group, values in result["metrics"].items():
            for metric, value in values.items():
                flat[f"{name}/{group}/{metric}"] = value
    return flat
