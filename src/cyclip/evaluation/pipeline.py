"""Evaluate one model on a plan (the builtin suite or a list of tasks) and write the results.

:func:`evaluate_model` is the one path every caller takes: ``cyclip eval``, ``cyclip demo``,
``cyclip report --evaluate``, the experiments and the trainer's periodic hook. It builds the
:class:`FeatureExtractor` and :class:`Evaluator`, puts the model in eval mode for the duration,
runs the plan and, with an output folder, writes one result document per evaluation.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cyclip.evaluation.cache import FeatureCache
from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
from cyclip.evaluation.linear_probe import LinearProbeConfig
from cyclip.evaluation.load import LoadedModel, ModelInfo
from cyclip.evaluation.protocols import ProtocolConfig
from cyclip.evaluation.registry import Task, TaskRequest, get_task
from cyclip.evaluation.run import Evaluator
from cyclip.evaluation.schema import result_filename, unique_filename, write_result
from cyclip.evaluation.suite import (
    DEFAULT_EXTRACT,
    PERIODIC_EXTRACT,
    QUICK_SUITE,
    SuiteConfig,
    headline_metrics,
    run_suite,
)
from cyclip.models import ModelBundle

DEFAULT_SUITE = SuiteConfig()
DEFAULT_PROBE = LinearProbeConfig()
DEFAULT_PROTOCOL = ProtocolConfig()


@dataclass(frozen=True)
class TaskRun:
    """A task with its data already opened (see :func:`open_task`)."""

    task: Task
    opened: Any


def open_task(name: str, request: TaskRequest) -> TaskRun:
    """Look up task ``name`` and open its data (fails fast, before any model is loaded)."""
    task = get_task(name)
    return TaskRun(task, task.open_request(request))


Plan = SuiteConfig | Sequence[TaskRun]
"""What to evaluate: the builtin suite (with its sizes) or explicit tasks."""


@dataclass
class Evaluation:
    """What :func:`evaluate_model` produced."""

    results: dict[str, dict]
    """``{key: result document}``; keys as :func:`~cyclip.evaluation.schema.result_filename`."""
    paths: list[Path] = field(default_factory=list)
    """Files written (empty without an output folder): ``<key stem>__<evaluation id>.json``."""


def run_plan(evaluator: Evaluator, plan: Plan) -> dict[str, dict]:
    """Run ``plan`` with ``evaluator``; returns ``{file name: result document}``."""
    if isinstance(plan, SuiteConfig):
        return run_suite(evaluator, plan)
    results = {}
    for run in plan:
        result = run.task.evaluate(evaluator, run.opened)
        results[result_filename(result["dataset"]["name"], result["task"])] = result
    return results


def evaluate_model(
    model: LoadedModel | ModelBundle,
    plan: Plan,
    *,
    output_dir: str | os.PathLike | None = None,
    extract: ExtractConfig = DEFAULT_EXTRACT,
    cache: FeatureCache | None = None,
    probe: LinearProbeConfig | None = DEFAULT_PROBE,
    protocol: ProtocolConfig = DEFAULT_PROTOCOL,
    model_info: ModelInfo | None = None,
) -> Evaluation:
    """Evaluate ``model`` on ``plan`` and, with ``output_dir``, write the result files there.

    Args:
        model: a :class:`LoadedModel` (its info and fingerprint go into the results, features
            are cached) or an in-memory :class:`ModelBundle` (weights in training: named by
            ``model_info`` or its class, never cached unless ``model_info`` has a fingerprint).
        plan: a :class:`SuiteConfig` (the builtin suite; its own probe and protocol settings
            apply) or a sequence of :class:`TaskRun`.
        output_dir: where to write one JSON per result; ``None`` writes nothing.
        extract: batch size, workers, device, precision of feature extraction.
        cache: the feature cache (``None``: no caching).
        probe: linear-probe settings for task plans; ``None`` skips the probe.
        protocol: metric cut-offs for task plans.
        model_info: overrides the recorded model block.
    """
    if isinstance(model, LoadedModel):
        bundle, info = model.bundle, model_info or model.info
    else:
        bundle, info = model, model_info or ModelInfo(name=type(model.model).__name__)
    if isinstance(plan, SuiteConfig):
        probe = plan.probe if plan.linear_probe else None
        protocol = plan.protocol
    extractor = FeatureExtractor(bundle, info.fingerprint, cache or FeatureCache(None), extract)
    evaluator = Evaluator(extractor, info, protocol, probe)
    was_training = bundle.model.training
    bundle.model.eval()
    try:
        results = run_plan(evaluator, plan)
    finally:
        bundle.model.train(was_training)
    paths = []
    if output_dir is not None:
        paths = [write_result(r, output_dir, unique_filename(key, r)) for key, r in results.items()]
    return Evaluation(results, paths)


def evaluate_suite(
    model_bundle: ModelBundle,
    *,
    model_info: ModelInfo | None = None,
    config: SuiteConfig = DEFAULT_SUITE,
    extract: ExtractConfig = DEFAULT_EXTRACT,
    cache: FeatureCache | None = None,
) -> dict[str, dict]:
    """Evaluate an in-memory model on the builtin suite (for the demo and the trainer).

    Args:
        model_bundle: model, eval transform and tokenizer; the model is put in eval mode for the
            duration and restored afterwards.
        model_info: recorded in the results; default: the architecture name only, and no
            fingerprint, so nothing is cached (weights of a model in training change).
        config: which parts run, and sizes.
        extract: batch size, workers, device, precision.
        cache: feature cache; used only when ``model_info.fingerprint`` is set.

    Returns:
        ``{file name: result document}``, file names as in :func:`result_filename`.
    """
    return evaluate_model(
        model_bundle, config, extract=extract, cache=cache, model_info=model_info
    ).results


def make_eval_fn(
    model_bundle: ModelBundle,
    *,
    config: SuiteConfig = QUICK_SUITE,
    extract: ExtractConfig = PERIODIC_EXTRACT,
) -> Callable[[torch.nn.Module, int], dict[str, float]]:
    """A periodic-evaluation hook for the trainer: ``fn(model, step) -> flat metrics``.

    Uses ``model_bundle``'s eval transform and tokenizer with whatever model is passed at call
    time (DDP / ``torch.compile`` wrappers are unwrapped). Runs single-process: call it on the
    main rank only. Nothing is cached, since the weights change between calls.
    """

    def evaluate(model: Any, step: int) -> dict[str, float]:
        del step  # the trainer logs it beside the returned metrics
        while True:  # torch.compile and DDP wrappers around the open_clip model
            if hasattr(model, "_orig_mod"):
                model = model._orig_mod
            elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
                model = model.module
            else:
                break
        device = next(model.parameters()).device  # run where the trainer keeps the model
        bundle = model_bundle._replace(model=model)
        start = time.perf_counter()
        results = evaluate_suite(
            bundle, config=config, extract=dataclasses.replace(extract, device=str(device))
        )
        flat = headline_metrics(results)
        flat["eval_seconds"] = time.perf_counter() - start
        return flat

    return evaluate
