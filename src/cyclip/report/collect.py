"""Line up evaluation results of several runs: same dataset, same metric, one value per run."""

from __future__ import annotations

from collections.abc import Sequence

from cyclip.report.runs import Run

SPLIT_ORDER = {"train": 0, "test": 1, "sketch": 2, "noisy": 3, "novel": 4}
"""Display order of the builtin world's splits: in-distribution first, then the shifts."""
_FACTOR_ORDER = {"shape": 0, "colour": 1, "colour-shape": 2}


def split_of(dataset: str) -> str | None:
    """``shapes/colour/sketch`` -> ``sketch``; ``None`` for names outside the builtin suite."""
    parts = dataset.split("/")
    return parts[2] if len(parts) == 3 and parts[0] == "shapes" else None


def _dataset_sort_key(name: str) -> tuple:
    # Builtin names "shapes/<factor>/<split>" sort by factor, then split in the suite's order.
    parts = name.split("/")
    if len(parts) == 3:
        return (0, _FACTOR_ORDER.get(parts[1], 9), SPLIT_ORDER.get(parts[2], 9), name)
    return (1, 0, 0, name)


def datasets_with(runs: Sequence[Run], group: str) -> list[str]:
    """Names of datasets for which at least one run has metric ``group``, in display order."""
    names = {
        r["dataset"].get("name", r["dataset"]["source"])
        for run in runs
        for r in run.results
        if group in r["metrics"]
    }
    return sorted(names, key=_dataset_sort_key)


def group_of(run: Run, dataset: str, group: str) -> dict[str, float] | None:
    """The metric group ``group`` of ``run`` on ``dataset`` (any task), or ``None``."""
    for r in run.results:
        if r["dataset"].get("name", r["dataset"]["source"]) == dataset and group in r["metrics"]:
            return r["metrics"][group]
    return None


def value(run: Run, dataset: str, group: str, metric: str) -> float | None:
    """One metric of one run, or ``None`` where the run lacks it."""
    values = group_of(run, dataset, group)
    if values is None:
        return None
    v = values.get(metric)
    return float(v) if v is not None else None


def details_of(run: Run, dataset: str, task: str) -> dict | None:
    """The ``details`` block of ``run``'s ``task`` result on ``dataset``."""
    result = run.result(task, dataset)
    return result.get("details") if result else None


def metric_names(runs: Sequence[Run], dataset: str, group: str) -> list[str]:
    """Union of the metric names of ``group`` on ``dataset`` over runs, first-seen order."""
    seen: dict[str, None] = {}
    for run in runs:
        for key in group_of(run, dataset, group) or {}:
            seen.setdefault(key, None)
    return list(seen)
