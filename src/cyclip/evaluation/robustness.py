"""Robustness to distribution shift: zero-shot accuracy on shifted sets beside in-distribution.

Two measures, both from top-1 accuracies in percent:

- **Relative robustness** = shifted accuracy / in-distribution accuracy (a fraction; 1 means no
  loss under the shift). Always reported; it is the only measure available for a single model.
- **Effective robustness** (Taori et al., 2020) = shifted accuracy minus the accuracy a baseline
  trend predicts from the in-distribution accuracy, in percentage points. Per shift, the trend is
  a least-squares line ``logit(shifted) = a · logit(in_distribution) + b`` across baseline
  models (accuracies as fractions clipped to [1e-4, 1 − 1e-4]). It is computed when the baseline
  has at least three models, or at least two models named explicitly as ``baseline``; with two
  models and no separate baseline, the line passes through both points and every effective
  robustness would be exactly 0, which says nothing, so only relative robustness is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

_EPS = 1e-4


def _logit(percent: float) -> float:
    p = min(max(percent / 100.0, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit_linear_fit(
    in_distribution: Sequence[float], shifted: Sequence[float]
) -> tuple[float, float]:
    """Least-squares ``logit(shifted) = slope · logit(in_distribution) + intercept``.

    Args:
        in_distribution: top-1 accuracies (%) of the baseline models on the original test set.
        shifted: their accuracies (%) on the shifted set, same order.

    Returns:
        ``(slope, intercept)``.
    """
    if len(in_distribution) != len(shifted) or len(in_distribution) < 2:
        raise ValueError("a logit-linear fit needs at least two (in-distribution, shifted) points")
    xs = [_logit(a) for a in in_distribution]
    ys = [_logit(a) for a in shifted]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0.0:
        raise ValueError(
            "the baseline models all have the same in-distribution accuracy; the trend line is "
            "undefined. Add baseline models with different accuracies."
        )
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def predicted_accuracy(in_distribution: float, slope: float, intercept: float) -> float:
    """Shifted accuracy (%) the logit-linear trend predicts for an in-distribution accuracy (%)."""
    return 100.0 * _sigmoid(slope * _logit(in_distribution) + intercept)


def robustness_table(
    accuracies: Mapping[str, Mapping[str, float]],
    in_distribution: str,
    baseline: Sequence[str] | None = None,
) -> dict:
    """Per model and shift: in-distribution vs shifted accuracy, relative and effective robustness.

    Args:
        accuracies: ``{model: {split: top-1 %}}``; every model needs the ``in_distribution``
            split; every other split is a shift.
        in_distribution: name of the in-distribution split (e.g. ``"test"``).
        baseline: models whose trend defines effective robustness (default: all models).

    Returns:
        ``{"method": "effective" | "relative", "note": str, "rows": [{"model", "shift",
        "in_distribution", "shifted", "drop", "relative_robustness", "predicted"?,
        "effective_robustness"?}], "fits": {shift: {"slope", "intercept", "n_models"}}}``.
        ``drop`` and ``effective_robustness`` are in percentage points.
    """
    for model, splits in accuracies.items():
        if in_distribution not in splits:
            raise ValueError(
                f"model {model!r} has no in-distribution accuracy {in_distribution!r} "
                f"(has: {sorted(splits)})"
            )
    explicit = baseline is not None
    base = list(accuracies) if baseline is None else list(baseline)
    unknown = [m for m in base if m not in accuracies]
    if unknown:
        raise ValueError(f"baseline models {unknown} have no accuracies")
    fit_possible = len(base) >= 3 or (explicit and len(base) >= 2)
    shifts = sorted({s for splits in accuracies.values() for s in splits if s != in_distribution})

    fits: dict[str, dict[str, float]] = {}
    if fit_possible:
        for shift in shifts:
            have = [m for m in base if shift in accuracies[m]]
            if len(have) < 2:
                continue
            xs = [accuracies[m][in_distribution] for m in have]
            ys = [accuracies[m][shift] for m in have]
            if len(set(xs)) < 2:
                continue
            slope, intercept = logit_linear_fit(xs, ys)
            fits[shift] = {"slope": slope, "intercept": intercept, "n_models": float(len(have))}

    rows = []
    for model, splits in accuracies.items():
        ind = splits[in_distribution]
        for shift in shifts:
            if shift not in splits:
                continue
            row = {
                "model": model,
                "shift": shift,
                "in_distribution": ind,
                "shifted": splits[shift],
                "drop": ind - splits[shift],
                "relative_robustness": splits[shift] / ind if ind > 0 else float("nan"),
            }
            if shift in fits:
                pred = predicted_accuracy(ind, fits[shift]["slope"], fits[shift]["intercept"])
                row["predicted"] = pred
                row["effective_robustness"] = splits[shift] - pred
            rows.append(row)
    method = "effective" if fits else "relative"
    note = "Relative robustness = shifted / in-distribution accuracy. " + (
        f"Effective robustness = shifted accuracy minus a logit-linear trend fitted on {len(base)} "
        "baseline models (Taori et al., 2020), in percentage points"
        if fits
        else "Effective robustness needs a trend fitted on at least 3 models (or 2 named "
        "baseline models)"
    )
    return {"method": method, "note": note, "rows": rows, "fits": fits}
