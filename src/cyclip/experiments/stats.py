"""Seed statistics and the paper-shaped tables from the runs' evaluation files.

A difference between two methods "exceeds the seed noise" when ``|Δ| > 2 · SE`` with the
Welch standard error ``SE = sqrt(s_a²/n_a + s_b²/n_b)`` (s: sample standard deviation over
seeds). With three seeds this is a rough screen, not a test at a fixed level; the Welch t-test
p-value is printed beside it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy import stats as scipy_stats

from cyclip.evaluation import headline_metrics
from cyclip.rundir import RunDir

FACTORS = ("shape", "colour", "colour-shape")
COMPOSITIONAL_CATEGORIES = ("swap_att", "swap_rel", "count", "replace_att", "replace_obj")
SPLITS = ("test", "sketch", "noisy", "novel")


def collect_metrics(run_dir: Path) -> dict[str, float]:
    """Every metric of ``run_dir/eval/*.json`` as ``{"<dataset>/<group>/<metric>": value}``."""
    files = sorted(RunDir(run_dir).eval.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no evaluation results in {RunDir(run_dir).eval}")
    # json.load rather than read_result: a metric that was NaN (relative robustness when the
    # in-distribution accuracy is 0) is written as null, which read_result rejects.
    results = {f.name: json.loads(f.read_text(encoding="utf-8")) for f in files}
    return {k: float(v) for k, v in headline_metrics(results).items() if _is_number(v)}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Summary:
    """One metric of one method over seeds."""

    mean: float
    std: float
    """Sample standard deviation (0 for a single seed)."""
    n: int

    def format(self, digits: int = 2) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def summarise(values: Sequence[float]) -> Summary:
    """Mean, sample standard deviation and count of one metric over seeds."""
    if not values:
        raise ValueError("summarise: no values")
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Summary(statistics.fmean(values), std, len(values))


@dataclass(frozen=True)
class Comparison:
    """``b − a`` for one metric."""

    diff: float
    se: float
    """Welch standard error of the difference."""
    p_value: float
    """Welch t-test, two-sided (nan when both methods have zero spread or one seed)."""

    @property
    def exceeds_noise(self) -> bool:
        return abs(self.diff) > 2 * self.se

    def verdict(self) -> str:
        if not self.exceeds_noise:
            return "no"
        return "yes, higher" if self.diff > 0 else "yes, lower"


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Compare method ``b`` against method ``a`` over seeds."""
    sa, sb = summarise(a), summarise(b)
    se = math.sqrt(sa.std**2 / sa.n + sb.std**2 / sb.n)
    p = math.nan
    if sa.n > 1 and sb.n > 1 and se > 0:
        p = float(scipy_stats.ttest_ind(b, a, equal_var=False).pvalue)
    return Comparison(sb.mean - sa.mean, se, p)


def compare_paired(a: Mapping[int, float], b: Mapping[int, float]) -> Comparison:
    """``b − a`` paired by seed (``{seed: value}``; seeds in only one are dropped): the mean of
    the per-seed differences, its standard error, and the paired t-test's p-value. Runs of one
    seed share the initialisation and the data order, so the seed's own effect (which moves all
    methods alike) cancels: a sharper test than :func:`compare` when that effect is large."""
    seeds = sorted(set(a) & set(b))
    diffs = [b[s] - a[s] for s in seeds]
    if not diffs:
        return Comparison(math.nan, math.nan, math.nan)
    summary = summarise(diffs)
    se = summary.std / math.sqrt(summary.n) if summary.n > 1 else math.nan
    p = math.nan
    if summary.n > 1 and summary.std > 0:
        p = float(scipy_stats.ttest_rel([b[s] for s in seeds], [a[s] for s in seeds]).pvalue)
    return Comparison(summary.mean, se, p)


# ----------------------------------------------------------------------------- tables

Row = tuple[str, str]  # (label, metric key)


def table_rows(keys: set[str]) -> dict[str, list[Row]]:
    """The paper's tables (docs/method.md §4) as labelled metric keys; keys not in the runs drop."""
    zero_shot, consistency, fine_coarse, probe = [], [], [], []
    for factor in FACTORS:
        for split in SPLITS:
            base = f"shapes/{factor}/{split}"
            for k in (1, 3, 5):
                zero_shot.append((f"{factor} {split} top-{k}", f"{base}/zero_shot/top{k}"))
            probe.append((f"{factor} {split} top-1", f"{base}/linear_probe/top1"))
            if factor == "colour-shape":
                for m in ("fine_top1", "coarse_top1", "flat_top1"):
                    fine_coarse.append((f"{split} {m}", f"{base}/fine_coarse/{m}"))
        base = f"shapes/{factor}/test/consistency"
        for k in (1, 3, 5, 10):
            consistency.append((f"{factor} consistency@{k}", f"{base}/consistency@{k}"))
        consistency.append((f"{factor} k-NN accuracy@1", f"{base}/knn_accuracy@1"))
    retrieval = [
        (m, f"shapes/retrieval/retrieval/{m}")
        for d in ("image_to_text", "text_to_image")
        for m in (f"{d}_R@1", f"{d}_R@5", f"{d}_R@10")
    ] + [("mean_recall", "shapes/retrieval/retrieval/mean_recall")]
    geometry = [
        (m, f"shapes/val/geometry/{m}")
        for m in (
            "modality_gap",
            "alignment",
            "uniformity_image",
            "uniformity_text",
            "uniformity_cross",
            "inmodal_cyclic",
            "crossmodal_cyclic",
            "matched_cosine",
            "unmatched_cosine",
        )
    ]
    compositional = [
        (f"{category} {label}", f"shapes/compositional/{group}/{category}")
        for group, label in (("image_text", "image-text"), ("text_only", "text-only"))
        for category in (*COMPOSITIONAL_CATEGORIES, "overall")
    ] + [
        (f"{family} family image-text", f"shapes/compositional/image_text_family/{family}")
        for family in ("swap", "count", "replace")
    ]
    sts = [(f"builtin STS {m}", f"shapes/sts/sts/{m}") for m in ("spearman", "pearson")]
    tables = {
        "Zero-shot classification (top-k %, in-distribution = test; shifts: sketch, noisy, novel)": zero_shot,
        "Consistency@k (% of test images whose zero-shot and k-NN predictions agree)": consistency,
        "Fine vs coarse (colour-shape; superclass = shape; top-1 %)": fine_coarse,
        "Linear probe (top-1 %, probe fitted on the train split)": probe,
        "Retrieval (Recall@k %, 5 captions per image)": retrieval,
        "Geometry (held-out pairs of shapes/val)": geometry,
        "Compositionality (shapes/compositional: true caption vs one hard negative, accuracy %, "
        "chance 50; text-only = the text tower alone)": compositional,
        "Sentence similarity of the text tower (shapes/sts: caption pairs, correlation x 100 "
        "with the world's gold similarity)": sts,
    }
    return {title: [r for r in rows if r[1] in keys] for title, rows in tables.items()}


def markdown_tables(
    per_method: Mapping[str, Sequence[Mapping[str, float]]],
    reference: str = "clip",
    challenger: str = "cyclip",
) -> tuple[str, dict]:
    """Markdown tables (mean ± std over seeds per method, Δ challenger − reference, verdict)
    and the same numbers as plain data."""
    keys = set.intersection(*(set(r) for runs in per_method.values() for r in runs))
    methods = list(per_method)
    lines, data = [], {}
    head = " | ".join(methods)
    for title, rows in table_rows(keys).items():
        if not rows:
            continue
        lines += [
            f"### {title}",
            "",
            f"| metric | {head} | Δ {challenger} − {reference} | > 2·SE? | Welch p |",
            "|---|" + "---:|" * (len(methods) + 3),
        ]
        for label, key in rows:
            values = {m: [r[key] for r in runs] for m, runs in per_method.items()}
            cells = [summarise(v).format() for v in values.values()]
            c = compare(values[reference], values[challenger])
            p = "n/a" if math.isnan(c.p_value) else f"{c.p_value:.3f}"
            lines.append(
                f"| {label} | {' | '.join(cells)} | {c.diff:+.2f} ± {c.se:.2f} | {c.verdict()} | {p} |"
            )
            data[key] = {
                "per_method": {m: summarise(v).__dict__ for m, v in values.items()},
                "values": values,
                "diff": c.diff,
                "se": c.se,
                "p_value": None if math.isnan(c.p_value) else c.p_value,
                "exceeds_noise": c.exceeds_noise,
            }
        lines.append("")
    return "\n".join(lines), data


def paired_table(
    per_seed: Mapping[str, Mapping[int, Mapping[str, float]]],
    pairs: Sequence[tuple[str, str]],
    rows: Sequence[tuple[str, str]],
) -> str:
    """A Markdown table of :func:`compare_paired` differences: one column per (reference,
    challenger) pair whose methods both ran, one row per (label, metric key) all runs have.

    ``per_seed`` is ``{method: {seed: metrics}}``. A cell reads ``Δ ± SE (p)``, with ``*`` when
    |Δ| exceeds two standard errors; small metrics (|value| < 1) get four decimals.
    """
    pairs = [(a, b) for a, b in pairs if a in per_seed and b in per_seed]
    runs = [m for seeds in per_seed.values() for m in seeds.values()]
    rows = [(label, key) for label, key in rows if runs and all(key in m for m in runs)]
    if not pairs or not rows:
        return ""
    lines = [
        "| metric | " + " | ".join(f"{b} − {a}" for a, b in pairs) + " |",
        "|---|" + "---:|" * len(pairs),
    ]
    for label, key in rows:
        cells = []
        for a, b in pairs:
            c = compare_paired(
                {s: m[key] for s, m in per_seed[a].items()},
                {s: m[key] for s, m in per_seed[b].items()},
            )
            small = all(abs(m[key]) < 1 for m in runs)
            digits = 4 if small else 2
            p = "n/a" if math.isnan(c.p_value) else f"{c.p_value:.2g}"
            mark = " *" if c.exceeds_noise else ""
            cells.append(f"{c.diff:+.{digits}f} ± {c.se:.{digits}f} ({p}){mark}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
