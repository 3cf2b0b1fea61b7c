"""Evaluation as pure functions over features, plus cached feature extraction (docs/method.md §4).

Metrics (tensors in, dicts of floats out; accuracies in percent):
:func:`zero_shot_metrics`, :func:`linear_probe`, :func:`retrieval_metrics`,
:func:`consistency_metrics`, :func:`fine_coarse_metrics`, :func:`geometry_metrics`,
:func:`robustness_table`. Running them on data: :class:`Evaluator` (one result document per
data source, see :data:`SCHEMA`); :func:`evaluate_model` runs a plan (the builtin suite or
registered tasks, :data:`TASKS`) and writes the results.

Importing the package is cheap (no torch): the built-in tasks register themselves without
importing a model library, and each name below is imported from its module on first use, so
``cyclip eval --help`` and ``cyclip report`` start without loading torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from cyclip.evaluation import tasks as _tasks  # noqa: F401  (registers the built-in tasks)
from cyclip.evaluation.registry import TASKS, Task, TaskRequest, get_task, register_task

if TYPE_CHECKING:
    from cyclip.evaluation.cache import FeatureCache, default_cache_dir
    from cyclip.evaluation.consistency import consistency_metrics, knn_vote
    from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
    from cyclip.evaluation.fine_coarse import fine_coarse_metrics
    from cyclip.evaluation.geometry import geometry_metrics, similarity_histograms
    from cyclip.evaluation.linear_probe import (
        LinearProbeConfig,
        fit_linear_probe,
        linear_probe,
        linear_probe_metrics,
    )
    from cyclip.evaluation.load import LoadedModel, ModelInfo, load_model
    from cyclip.evaluation.pipeline import (
        Evaluation,
        TaskRun,
        evaluate_model,
        evaluate_suite,
        make_eval_fn,
        open_task,
    )
    from cyclip.evaluation.retrieval import retrieval_metrics
    from cyclip.evaluation.robustness import robustness_table
    from cyclip.evaluation.run import Evaluator
    from cyclip.evaluation.schema import SCHEMA, SCHEMA_VERSION, read_result, write_result
    from cyclip.evaluation.suite import (
        QUICK_SUITE,
        SUITE_PARTS,
        SuiteConfig,
        SuitePart,
        headline_metrics,
        run_suite,
    )
    from cyclip.evaluation.zero_shot import build_classifier, predict, zero_shot_metrics

# Public name -> the module (under cyclip.evaluation) it is imported from on first use.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("FeatureCache", "default_cache_dir"), "cache"),
    **dict.fromkeys(("consistency_metrics", "knn_vote"), "consistency"),
    **dict.fromkeys(("ExtractConfig", "FeatureExtractor"), "features"),
    "fine_coarse_metrics": "fine_coarse",
    **dict.fromkeys(("geometry_metrics", "similarity_histograms"), "geometry"),
    **dict.fromkeys(
        ("LinearProbeConfig", "fit_linear_probe", "linear_probe", "linear_probe_metrics"),
        "linear_probe",
    ),
    **dict.fromkeys(("LoadedModel", "ModelInfo", "load_model"), "load"),
    **dict.fromkeys(
        ("Evaluation", "TaskRun", "evaluate_model", "evaluate_suite", "make_eval_fn", "open_task"),
        "pipeline",
    ),
    "retrieval_metrics": "retrieval",
    "robustness_table": "robustness",
    "Evaluator": "run",
    **dict.fromkeys(("SCHEMA", "SCHEMA_VERSION", "read_result", "write_result"), "schema"),
    **dict.fromkeys(
        ("QUICK_SUITE", "SUITE_PARTS", "SuiteConfig", "SuitePart", "headline_metrics", "run_suite"),
        "suite",
    ),
    **dict.fromkeys(("build_classifier", "predict", "zero_shot_metrics"), "zero_shot"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cyclip.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cyclip.evaluation.{module}"), name)


class _Package(types.ModuleType):
    """``cyclip.evaluation.linear_probe`` stays the function (as with eager imports) even after
    the submodule of the same name is imported, which rebinds the package attribute."""

    @property
    def linear_probe(self) -> Any:
        from cyclip.evaluation.linear_probe import linear_probe

        return linear_probe

    @linear_probe.setter
    def linear_probe(self, module: Any) -> None:
        pass  # the import system binding the submodule: keep the function


sys.modules[__name__].__class__ = _Package

__all__ = [
    "SUITE_PARTS",
    "TASKS",
    "Evaluation",
    "SuitePart",
    "Task",
    "TaskRequest",
    "TaskRun",
    "evaluate_model",
    "get_task",
    "open_task",
    "register_task",
    "QUICK_SUITE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "Evaluator",
    "ExtractConfig",
    "FeatureCache",
    "FeatureExtractor",
    "LinearProbeConfig",
    "LoadedModel",
    "ModelInfo",
    "SuiteConfig",
    "build_classifier",
    "consistency_metrics",
    "default_cache_dir",
    "evaluate_suite",
    "fine_coarse_metrics",
    "fit_linear_probe",
    "geometry_metrics",
    "headline_metrics",
    "knn_vote",
    "linear_probe",
    "linear_probe_metrics",
    "load_model",
    "make_eval_fn",
    "predict",
    "read_result",
    "retrieval_metrics",
    "robustness_table",
    "run_suite",
    "similarity_histograms",
    "write_result",
    "zero_shot_metrics",
]
