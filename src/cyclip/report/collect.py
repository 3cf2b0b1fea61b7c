"""Line up evaluation results of several runs: same dataset, same metric, one value per run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cyclip.report.runs import Run
from cyclip.types import BUILTIN_PREFIX

SPLIT_ORDER = {"train": 0, "test": 1, "sketch": 2, "noisy": 3, "novel": 4}
"""Display order of the builtin world's splits: in-distribution first, then the shifts."""
_FACTOR_ORDER = {"shape": 0, "colour": 1, "colour-shape": 2}


def _distinct_suffixes(sources: list[str]) -> dict[str, str]:
    """The shortest trailing path parts that tell ``sources`` apart: ``a/clothing/test`` and
    ``b/cifar/test`` -> ``clothing/test`` and ``cifar/test``."""
    parts = {s: [p for p in Path(s).resolve().parts if p != "/"] or [s] for s in sources}
    longest = max(len(p) for p in parts.values())
    for n in range(1, longest + 1):
        labels = {s: "/".join(p[-n:]) for s, p in parts.items()}
        if len(set(labels.values())) == len(labels):
            return labels
    return {s: s for s in sources}


def _checkpoint_label(model: dict) -> str:
    if model.get("step") is not None:
        return f"step {model['step']}"
    return Path(str(model.get("checkpoint") or model.get("name"))).name


def disambiguate(runs: Sequence[Run]) -> None:
    """Give every result a dataset label that is distinct where the evaluations are.

    Results are lined up across runs by ``dataset.name``. Two data folders with the same
    basename (``clothing/test``, ``cifar/test``) get the shortest distinct path suffix; several
    checkpoints of one run evaluated on the same data keep the plain label for the newest (the
    run's final result, compared across runs) and ``label @ step N`` for the others. Only the
    in-memory view changes; the files are not touched.
    """
    sources: dict[str, set[str]] = {}
    for run in runs:
        for r in run.results:
            d = r["dataset"]
            if not str(d["source"]).startswith(BUILTIN_PREFIX):
                sources.setdefault(d.get("name", d["source"]), set()).add(str(d["source"]))
    relabel = {}
    for name, srcs in sources.items():
        if len(srcs) > 1:
            relabel.update(
                {(name, s): label for s, label in _distinct_suffixes(sorted(srcs)).items()}
            )
    for run in runs:
        for r in run.results:
            d = r["dataset"]
            name = d.get("name", d["source"])
            d["name"] = relabel.get((name, str(d["source"])), name)
        by_key: dict[tuple, list[dict]] = {}
        for r in run.results:
            by_key.setdefault((r["task"], r["dataset"]["name"]), []).append(r)
        for group in by_key.values():
            checkpoints = {(r["model"].get("checkpoint"), r["model"].get("step")) for r in group}
            if len(checkpoints) < 2:
                continue
            newest = max(group, key=lambda r: (r["model"].get("step") or -1, r["created"]))
            for r in group:
                if r is not newest:
                    r["dataset"]["name"] += f" @ {_checkpoint_label(r['model'])}"


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
