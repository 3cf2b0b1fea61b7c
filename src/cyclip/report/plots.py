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
    """The ``i``-th run's colour (the palette repeats)."""
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


NOT_CURVES = frozenset({"step", "epoch", "samples", "time"})
"""Logged keys that are positions or clocks, not metrics to draw."""
COUNTERS = frozenset({"epoch_skipped", "nonfinite_skipped"})
"""Counts drawn only when they are ever non-zero."""
SIZES = frozenset({"val_pairs"})
"""Sizes drawn only when they change."""
STYLES = (
    ("-", "o"),
    ("--", "s"),
    (":", "^"),
    ("-.", "v"),
    ("-", "D"),
    ("--", "x"),
    (":", "*"),
    ("-.", "P"),
)


def _numeric_keys(lines: Sequence[dict]) -> list[str]:
    keys: dict[str, None] = {}
    for line in lines:
        for k, v in line.items():
            if k not in NOT_CURVES and isinstance(v, int | float) and not isinstance(v, bool):
                keys.setdefault(k, None)
    return list(keys)


def _worth_drawing(key: str, lines: Sequence[dict]) -> bool:
    if key not in COUNTERS | SIZES:
        return True
    values = {line[key] for line in lines if isinstance(line.get(key), int | float)}
    return len(values) > 1 or (key in COUNTERS and bool(values - {0}))


def metric_families(keys: Sequence[str], titles: dict[str, str] | None = None) -> list[tuple]:
    """Keys grouped into panels: ``[(title, [keys])]`` in first-seen order.

    A key with slashes belongs to the family of its prefix (``zeroshot/shapes/shape/test/
    zero_shot`` holds top1, top3, ...); keys ending in ``_residual`` share one panel; any other
    key is a family of its own, titled from ``titles`` when named there.
    """
    titles = titles or {}
    families: dict[str, list[str]] = {}
    for key in keys:
        if "/" in key:
            family = key.rsplit("/", 1)[0]
        elif key.endswith("_residual"):
            family = "val cyclic residuals" if key.startswith("val_") else "cyclic residuals"
        else:
            family = key
        families.setdefault(family, []).append(key)
    out = []
    for family, members in families.items():
        if family.endswith("cyclic residuals"):
            title = f"{family} (unweighted, ÷N²)"
        else:
            title = titles.get(family, family)
        out.append((title, members))
    return out


def _short(key: str) -> str:
    """The legend label of a key inside its family."""
    if "/" in key:
        return key.rsplit("/", 1)[1]
    return key.removeprefix("val_").removesuffix("_residual")


def _line_panels(panels, runs: Sequence[Run], points, *, smooth: bool, markers: bool) -> Figure:
    """One subplot per ``(title, keys)``: a colour per run, a line style per key of the family.
    ``points(run, key) -> (xs, ys)``."""
    rows, cols = _grid(len(panels))
    fig = Figure(figsize=(_panel_width(cols) * cols, 3.0 * rows), layout="constrained")
    for p, (title, keys) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, p + 1)
        for m, key in enumerate(keys):
            style, marker = STYLES[m % len(STYLES)]
            for i, run in enumerate(runs):
                xs, ys = points(run, key)
                if not xs:
                    continue
                shown = _smooth(ys, len(ys)) if smooth else ys
                if shown is not ys:
                    ax.plot(xs, ys, color=colour(i), alpha=0.25, linewidth=0.8, linestyle=style)
                ax.plot(
                    xs,
                    shown,
                    color=colour(i),
                    linewidth=1.5,
                    linestyle=style,
                    marker=marker if markers else None,
                    markersize=3,
                    label=run.name if m == 0 else None,
                )
            if len(keys) > 1:  # the key's style, in grey, for the panel's own legend
                ax.plot([], [], color="#555555", linestyle=style,
                        marker=marker if markers else None, label=_short(key))  # fmt: skip
        ax.set_title(title, fontsize=8 if len(title) > 40 else 10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if keys == ["lr"]:
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        names = {run.name for run in runs}
        shown = [
            (h, lab)
            for h, lab in zip(*ax.get_legend_handles_labels())
            if p == 0 or lab not in names  # the runs' colours: in the first panel only
        ]
        if shown:
            ax.legend(*zip(*shown), fontsize=6 if len(shown) > 4 else 7)
    return fig


def _training_panels(runs: Sequence[Run]) -> list[tuple]:
    keys = [k for k, _ in TRAINING_PANELS]
    for run in runs:
        keys += [k for k in _numeric_keys(run.steps) if k not in keys]
    keys = [
        k for k in keys if any(run.series(k)[0] and _worth_drawing(k, run.steps) for run in runs)
    ]
    return metric_families(keys, dict(TRAINING_PANELS))


def training_curves_text(runs: Sequence[Run]) -> str:
    """How :func:`training_curves` draws these runs, in a sentence: smoothed or raw lines."""
    keys = [k for _, family in _training_panels(runs) for k in family]
    lengths = {len(run.series(k)[0]) for run in runs for k in keys} - {0}
    if not lengths or max(lengths) < SMOOTH_MIN_POINTS:
        return "One line per run, the logged values as they are."
    if min(lengths) >= SMOOTH_MIN_POINTS:
        return "Thin lines are raw values, thick lines an exponential moving average."
    return (
        f"Curves of {SMOOTH_MIN_POINTS} or more points: thin lines raw values, thick lines an "
        "exponential moving average; shorter curves: one raw line."
    )


def training_curves(runs: Sequence[Run]) -> Figure | None:
    """Every logged training quantity against step, one panel per metric family (loss terms,
    cyclic residuals, logit scale, lr, gradient norm, throughput, ...), runs overlaid."""
    panels = _training_panels(runs)
    if not panels:
        return None
    return _line_panels(panels, runs, lambda run, key: run.series(key), smooth=True, markers=False)


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


def _eval_points(run: Run, key: str) -> tuple[list[float], list[float]]:
    pts = [
        (float(line["step"]), float(line["eval"][key]))
        for line in run.periodic_evals
        if isinstance(line["eval"].get(key), int | float) and "step" in line
    ]
    return ([x for x, _ in pts], [y for _, y in pts]) if pts else ([], [])


EVAL_TITLES = {
    "eval_seconds": "seconds per evaluation",
    "val_contrastive_loss": "val contrastive loss",
}


def periodic_eval_panels(runs: Sequence[Run]) -> list[tuple]:
    """``[(title, keys)]`` of every metric the trainer's evaluations logged, by family."""
    keys: dict[str, None] = {}
    for run in runs:
        lines = [line["eval"] for line in run.periodic_evals if isinstance(line["eval"], dict)]
        for k in _numeric_keys(lines):
            if _worth_drawing(k, lines):
                keys.setdefault(k, None)
    return metric_families(list(keys), EVAL_TITLES)


def periodic_eval_curves(runs: Sequence[Run]) -> Figure | None:
    """Every metric of the trainer's periodic evaluations against step, one panel per family
    (``<task>/<dataset>/<group>``: e.g. zero-shot top-1/3/5 together), runs overlaid."""
    panels = periodic_eval_panels(runs)
    if not panels:
        return None
    return _line_panels(panels, runs, _eval_points, smooth=False, markers=True)
