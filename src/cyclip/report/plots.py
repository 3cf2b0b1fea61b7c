"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

Each function takes runs and returns a ``Figure`` (or ``None`` when no run has the data).
No pyplot: figures are independent objects and nothing touches global matplotlib state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cyclip.report.collect import SPLIT_ORDER, datasets_with, details_of, group_of, split_of, value
from cyclip.report.runs import Run

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
TRAINING_PANELS = (
    ("loss", "total loss"),
    ("contrastive_loss", "contrastive term"),
    ("inmodal_cyclic_loss", "in-modal cyclic term (weighted)"),
    ("crossmodal_cyclic_loss", "cross-modal cyclic term (weighted)"),
    ("logit_scale", "logit scale (exp)"),
    ("lr", "learning rate"),
)


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def to_png(figure: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes."""
    FigureCanvasAgg(figure)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


SMOOTH_MIN_POINTS = 60
"""Curves with at least this many points are drawn raw (thin) plus an exponential moving average
(thick); shorter ones as one raw line."""


def _smooth(values: list[float], points: int) -> list[float]:
    """Exponential moving average with a span of about 1/30 of the curve (no-op on short ones)."""
    if points < SMOOTH_MIN_POINTS:
        return values
    alpha = 2.0 / (points / 30.0 + 1.0)
    out, acc = [], values[0]
    for v in values:
        acc = alpha * v + (1 - alpha) * acc
        out.append(acc)
    return out


def training_curves_text(runs: Sequence[Run]) -> str:
    """How :func:`training_curves` draws these runs, in a sentence: smoothed or raw lines."""
    lengths = {len(run.series(k)[0]) for run in runs for k, _ in TRAINING_PANELS} - {0}
    if not lengths or max(lengths) < SMOOTH_MIN_POINTS:
        return "One line per run, the logged values as they are."
    if min(lengths) >= SMOOTH_MIN_POINTS:
        return "Thin lines are raw values, thick lines an exponential moving average."
    return (
        f"Curves of {SMOOTH_MIN_POINTS} or more points: thin lines raw values, thick lines an "
        "exponential moving average; shorter curves: one raw line."
    )


def training_curves(runs: Sequence[Run]) -> Figure | None:
    """One panel per logged quantity (loss terms, logit scale, lr) against step, runs overlaid."""
    panels = [(k, t) for k, t in TRAINING_PANELS if any(run.series(k)[0] for run in runs)]
    if not panels:
        return None
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(_panel_width(cols) * cols, 3.0 * rows), layout="constrained")
    for p, (key, title) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, p + 1)
        for i, run in enumerate(runs):
            xs, ys = run.series(key)
            if not xs:
                continue
            smoothed = _smooth(ys, len(ys))
            if smoothed is not ys:
                ax.plot(xs, ys, color=colour(i), alpha=0.25, linewidth=0.8)
            ax.plot(xs, smoothed, color=colour(i), linewidth=1.5, label=run.name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if key == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    fig.axes[0].legend(fontsize=8)
    return fig


def _grouped_bars(ax, categories: Sequence[str], runs: Sequence[Run], get, ylabel: str) -> None:
    """Bars per category, one colour per run; ``get(run, category) -> float | None``."""
    width = 0.8 / max(len(runs), 1)
    for i, run in enumerate(runs):
        xs, hs = [], []
        for c, cat in enumerate(categories):
            v = get(run, cat)
            if v is not None:
                xs.append(c - 0.4 + width * (i + 0.5))
                hs.append(v)
        bars = ax.bar(xs, hs, width=width * 0.95, color=colour(i), label=run.name)
        if len(runs) > 2:
            continue  # labels of three or more bars per group overlap; the tables have them
        for bar, h in zip(bars, hs):
            ax.annotate(
                f"{h:.1f}",
                (bar.get_x() + bar.get_width() / 2, h),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 1),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(0, 105)


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = 4 if n == 4 and cols >= 3 else min(cols, n)  # one row of 4 rather than 3 + 1
    return math.ceil(n / cols), cols


def _panel_width(cols: int) -> float:
    return 4.2 if cols <= 3 else 3.3


def consistency_bars(runs: Sequence[Run]) -> Figure | None:
    """Consistency@k (zero-shot vs k-NN agreement) per dataset, bars per run. Of the builtin
    suite only the in-distribution test splits are drawn; the shifted ones are in the tables."""
    datasets = [d for d in datasets_with(runs, "consistency") if split_of(d) in (None, "test")]
    if not datasets:
        return None
    rows, cols = _grid(len(datasets))
    fig = Figure(figsize=(_panel_width(cols) * cols, 2.9 * rows), layout="constrained")
    for d, dataset in enumerate(datasets):
        ks = sorted(
            {
                int(m.split("@")[1])
                for run in runs
                for m in (group_of(run, dataset, "consistency") or {})
                if m.startswith("consistency@")
            }
        )
        ax = fig.add_subplot(rows, cols, d + 1)
        _grouped_bars(
            ax,
            [f"k={k}" for k in ks],
            runs,
            lambda run, cat, ds=dataset: value(run, ds, "consistency", f"consistency@{cat[2:]}"),
            "consistency (%)",
        )
        ax.set_title(dataset, fontsize=9)
    fig.axes[0].legend(fontsize=7)
    return fig


def fine_coarse_bars(runs: Sequence[Run]) -> Figure | None:
    """Fine (within superclass), coarse (superclass) and flat zero-shot top-1, bars per run."""
    datasets = datasets_with(runs, "fine_coarse")
    if not datasets:
        return None
    rows, cols = _grid(len(datasets))
    fig = Figure(figsize=(_panel_width(cols) * cols, 2.9 * rows), layout="constrained")
    labels = {"fine": "fine_top1", "coarse": "coarse_top1", "flat": "flat_top1"}
    for d, dataset in enumerate(datasets):
        ax = fig.add_subplot(rows, cols, d + 1)
        _grouped_bars(
            ax,
            list(labels),
            runs,
            lambda run, cat, ds=dataset: value(run, ds, "fine_coarse", labels[cat]),
            "top-1 (%)",
        )
        ax.set_title(dataset, fontsize=9)
    fig.axes[0].legend(fontsize=7)
    return fig


def shift_bars(runs: Sequence[Run]) -> Figure | None:
    """Zero-shot top-1 in distribution vs each shift, one panel per robustness group."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        for r in run.results:
            if r["task"] != "robustness":
                continue
            for group, values in r["metrics"].items():
                splits = [k.split("/")[0] for k in values if k.endswith("/top1")]
                known = groups.setdefault(group, [])
                known.extend(s for s in splits if s not in known)
    if not groups:
        return None
    rows, cols = _grid(len(groups))
    fig = Figure(figsize=(_panel_width(cols) * cols, 2.9 * rows), layout="constrained")

    def get(run: Run, split: str, group: str) -> float | None:
        for r in run.results:
            if r["task"] == "robustness" and group in r["metrics"]:
                v = r["metrics"][group].get(f"{split}/top1")
                return float(v) if v is not None else None
        return None

    for g, (group, splits) in enumerate(groups.items()):
        ax = fig.add_subplot(rows, cols, g + 1)
        ordered = sorted(splits, key=lambda s: SPLIT_ORDER.get(s, len(SPLIT_ORDER)))
        _grouped_bars(
            ax, ordered, runs, lambda run, s, grp=group: get(run, s, grp), "zero-shot top-1 (%)"
        )
        ax.set_title(f"{group}: in-distribution (test) vs shifts", fontsize=9)
    fig.axes[0].legend(fontsize=7)
    return fig


def similarity_histograms(runs: Sequence[Run]) -> Figure | None:
    """Cosine similarity of matched vs unmatched pairs (geometry results), one panel per run
    and dataset."""
    panels = []
    for run in runs:
        for dataset in datasets_with([run], "geometry"):
            details = details_of(run, dataset, "geometry") or {}
            hist = details.get("similarity_histogram")
            if hist:
                panels.append((run, dataset, hist))
    if not panels:
        return None
    rows, cols = _grid(len(panels), cols=2)
    fig = Figure(figsize=(5.0 * cols, 3.0 * rows), layout="constrained")
    for p, (run, dataset, hist) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, p + 1)
        edges = hist["bin_edges"]
        for key, shade in (("unmatched", "#7f7f7f"), ("matched", colour(runs.index(run)))):
            ax.stairs(hist[key], edges, fill=True, alpha=0.45, color=shade, label=f"{key} pairs")
            ax.stairs(hist[key], edges, color=shade, linewidth=1.0)
        ax.set_title(f"{run.name} - {dataset}", fontsize=9)
        ax.set_xlabel("cosine similarity", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(-1, 1)
        ax.legend(fontsize=7)
    return fig


def periodic_eval_curves(runs: Sequence[Run], max_panels: int = 6) -> Figure | None:
    """Metrics of the trainer's periodic evaluations against step (zero-shot top-1 and
    retrieval mean recall first)."""
    keys: dict[str, None] = {}
    for run in runs:
        for line in run.periodic_evals:
            for k, v in line["eval"].items():
                if isinstance(v, (int, float)) and (
                    k.endswith("zero_shot/top1")
                    or k.endswith("mean_recall")
                    or k.endswith("consistency@1")
                ):
                    keys.setdefault(k, None)
    chosen = list(keys)[:max_panels]
    if not chosen:
        return None
    rows, cols = _grid(len(chosen))
    fig = Figure(figsize=(_panel_width(cols) * cols, 2.8 * rows), layout="constrained")
    for p, key in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, p + 1)
        for i, run in enumerate(runs):
            pts = [
                (line["step"], line["eval"][key])
                for line in run.periodic_evals
                if key in line["eval"]
            ]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3, color=colour(i), label=run.name)
        ax.set_title(key, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    return fig
