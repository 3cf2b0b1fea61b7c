"""Evaluation as pure functions over features, plus cached feature extraction (docs/method.md §4).

Metrics (tensors in, dicts of floats out; accuracies in percent):
:func:`zero_shot_metrics`, :func:`linear_probe`, :func:`retrieval_metrics`,
:func:`consistency_metrics`, :func:`fine_coarse_metrics`, :func:`geometry_metrics`,
:func:`robustness_table`. Running them on data: :class:`Evaluator` (one result document per
data source, see :data:`SCHEMA`); :func:`evaluate_model` runs a plan (the builtin suite or
registered tasks, :data:`TASKS`) and writes the results.
"""

from cyclip.evaluation import tasks as _tasks  # noqa: F401  (registers the built-in tasks)
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
from cyclip.evaluation.registry import TASKS, Task, TaskRequest, get_task, register_task
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
