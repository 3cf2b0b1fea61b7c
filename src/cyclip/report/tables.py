"""The report's tables: runs side by side, with the difference to the first run.

Tables are plain data (:class:`Table`) rendered by both the HTML and the Markdown writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cyclip.evaluation.robustness import robustness_table
from cyclip.numbers import format_value
from cyclip.report.collect import SPLIT_ORDER, datasets_with, metric_names, value
from cyclip.report.runs import Run

GEOMETRY_NOTES = {
    "modality_gap": "‖mean(I) − mean(T)‖",
    "alignment": "E‖I_i − T_i‖², lower = pairs closer",
    "uniformity_image": "log E exp(−2‖x−y‖²), lower = more uniform",
    "uniformity_text": "log E exp(−2‖x−y‖²), lower = more uniform",
    "uniformity_cross": "over unmatched image-text pairs",
    "inmodal_cyclic": "L_in, mean over pairs (÷N²)",
    "crossmodal_cyclic": "L_cross, mean over pairs (÷N²)",
    "matched_cosine": "mean cos(I_i, T_i)",
    "unmatched_cosine": "mean cos(I_i, T_j), i ≠ j",
}


@dataclass(frozen=True)
class Table:
    """A table as plain strings, rendered by both the HTML and the Markdown writer."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def _diff(v: float | None, base: float | None) -> str:
    if v is None or base is None:
        return "-"
    return f"{v - base:+.2f}" if abs(v - base) >= 0.01 or v == base else f"{v - base:+.3g}"


def _compare_header(runs: Sequence[Run], first: tuple[str, ...]) -> tuple[str, ...]:
    diffs = tuple(f"Δ {r.name} − {runs[0].name}" for r in runs[1:])
    return first + tuple(r.name for r in runs) + diffs


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _compare_cells(values: list[float | None], fmt=format_value) -> tuple[str, ...]:
    return tuple(fmt(v) for v in values) + tuple(_diff(v, values[0]) for v in values[1:])


def runs_table(runs: Sequence[Run]) -> Table:
    """Which runs, what they trained, what was evaluated."""
    rows = []
    for run in runs:
        rows.append(
            (
                run.name,
                run.describe() or "-",
                str(len(run.steps)),
                str(len(run.results)),
                str(run.path),
            )
        )
    return Table(
        "Runs", ("run", "configuration", "log lines", "eval files", "directory"), tuple(rows)
    )


# (group, metric, title) of the per-metric tables, in reading order.
CLASSIFICATION_METRICS = (
    ("zero_shot", "top1", "Zero-shot top-1"),
    ("zero_shot", "top5", "Zero-shot top-5"),
    ("zero_shot", "mean_per_class_recall", "Zero-shot mean per-class recall"),
    ("linear_probe", "top1", "Linear probe top-1"),
    ("consistency", "consistency@1", "Consistency@1"),
    ("consistency", "consistency@10", "Consistency@10"),
    ("consistency", "knn_accuracy@1", "k-NN accuracy@1"),
    ("fine_coarse", "fine_top1", "Fine top-1 (within superclass)"),
    ("fine_coarse", "coarse_top1", "Coarse top-1 (superclass)"),
)


def metric_tables(runs: Sequence[Run]) -> list[Table]:
    """One small table per headline classification metric: a row per dataset, a column per
    run (and the difference to the first run)."""
    out = []
    for group, metric, title in CLASSIFICATION_METRICS:
        rows = []
        for dataset in datasets_with(runs, group):
            values = [value(run, dataset, group, metric) for run in runs]
            if any(v is not None for v in values):
                rows.append((dataset, *_compare_cells(values, _percent)))
        if rows:
            out.append(Table(f"{title} (%)", _compare_header(runs, ("dataset",)), tuple(rows)))
    return out


def retrieval_tables(runs: Sequence[Run]) -> list[Table]:
    """Recall@k of each retrieval dataset: a row per direction and k, a column per run."""
    out = []
    for dataset in datasets_with(runs, "retrieval"):
        rows = []
        for metric in metric_names(runs, dataset, "retrieval"):
            values = [value(run, dataset, "retrieval", metric) for run in runs]
            label = metric.replace("image_to_text_", "image → text ").replace(
                "text_to_image_", "text → image "
            )
            rows.append((label.replace("_", " "), *_compare_cells(values, _percent)))
        out.append(
            Table(f"Retrieval on {dataset} (%)", _compare_header(runs, ("recall",)), tuple(rows))
        )
    return out


def geometry_table(runs: Sequence[Run]) -> Table | None:
    """Geometry statistics on held-out pairs, one column per run."""
    rows = []
    for dataset in datasets_with(runs, "geometry"):
        for metric in metric_names(runs, dataset, "geometry"):
            values = [value(run, dataset, "geometry", metric) for run in runs]
            rows.append((dataset, metric, GEOMETRY_NOTES.get(metric, ""), *_compare_cells(values)))
    if not rows:
        return None
    return Table(
        "Embedding geometry",
        _compare_header(runs, ("dataset", "statistic", "definition")),
        tuple(rows),
    )


STS_NOTE = (
    "Correlation x100 of the text tower's cosine similarity with the gold scores (SentEval's "
    "protocol; Spearman is the headline). part: all = every pair of the set; a genre or "
    "subset = its pairs only; mean / wmean = SentEval's unweighted / size-weighted mean over "
    "subsets."
)
_STS_GROUPS = ("sts_aggregate", "sts_genre", "sts_subset")


def _sts_rows(runs: Sequence[Run], dataset: str) -> list[tuple[str, str, list[float | None]]]:
    """(part, correlation, values per run) of one STS set: all pairs first, then the
    aggregates, then each genre or subset."""
    rows = [
        (("all", c), [value(run, dataset, "sts", c) for run in runs])
        for c in metric_names(runs, dataset, "sts")
    ]
    for group in _STS_GROUPS:
        for metric in metric_names(runs, dataset, group):
            part, _, correlation = metric.rpartition("/")
            if group == "sts_aggregate" and part == "all":
                continue  # the same number as the "sts" group
            rows.append(((part, correlation), [value(run, dataset, group, metric) for run in runs]))
    return [(part, c, values) for (part, c), values in rows]


def sts_table(runs: Sequence[Run]) -> Table | None:
    """Sentence similarity (STS) of each set: a row per part and correlation, a column per
    run (and the difference to the first run)."""
    rows = []
    for dataset in datasets_with(runs, "sts"):
        for part, correlation, values in _sts_rows(runs, dataset):
            rows.append((dataset, part, correlation, *_compare_cells(values, _percent)))
    if not rows:
        return None
    header = _compare_header(runs, ("dataset", "part", "correlation"))
    return Table("Sentence similarity (STS)", header, tuple(rows), STS_NOTE)


def _split_accuracies(runs: Sequence[Run]) -> dict[str, dict[str, dict[str, float]]]:
    """``{label group: {run: {split: zero-shot top-1}}}`` from the runs' robustness results."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for run in runs:
        for r in run.results:
            if r["task"] != "robustness":
                continue
            for group, values in r["metrics"].items():
                splits = {
                    k.split("/")[0]: float(v)
                    for k, v in values.items()
                    if k.endswith("/top1") and v is not None
                }
                out.setdefault(group, {})[run.name] = splits
    return out


def robustness_view(runs: Sequence[Run]) -> Table | None:
    """Shifted vs in-distribution zero-shot top-1, relative robustness, and effective robustness
    (Taori et al.) fitted across the runs when there are enough of them."""
    rows, notes = [], set()
    for group, accuracies in _split_accuracies(runs).items():
        usable = {m: a for m, a in accuracies.items() if "test" in a}
        if not usable:
            continue
        table = robustness_table(usable, in_distribution="test")
        notes.add(table["note"])
        for row in sorted(
            table["rows"], key=lambda r: (SPLIT_ORDER.get(r["shift"], 9), r["model"])
        ):
            er = row.get("effective_robustness")
            rows.append(
                (
                    group,
                    row["shift"],
                    row["model"],
                    _percent(row["in_distribution"]),
                    _percent(row["shifted"]),
                    f"{row['drop']:+.2f}",
                    f"{row['relative_robustness']:.3f}",
                    f"{er:+.2f}" if er is not None else "-",
                )
            )
    if not rows:
        return None
    header = (
        "labels",
        "shift",
        "run",
        "test top-1",
        "shift top-1",
        "drop (pp)",
        "relative",
        "effective (pp)",
    )
    note = "Zero-shot top-1 in percent. " + ". ".join(sorted(notes)) + "."
    return Table("Robustness to distribution shift", header, tuple(rows), note)


def periodic_eval_table(runs: Sequence[Run]) -> Table | None:
    """The last periodic evaluation of each run, when the trainer logged any."""
    keys: dict[str, None] = {}
    for run in runs:
        if run.periodic_evals:
            for k, v in run.periodic_evals[-1]["eval"].items():
                if isinstance(v, (int, float)):
                    keys.setdefault(k, None)
    if not keys:
        return None
    rows = []
    for key in keys:
        values = [
            run.periodic_evals[-1]["eval"].get(key) if run.periodic_evals else None for run in runs
        ]
        rows.append((key, *_compare_cells(values)))
    return Table(
        "Last periodic evaluation during training", _compare_header(runs, ("metric",)), tuple(rows)
    )
