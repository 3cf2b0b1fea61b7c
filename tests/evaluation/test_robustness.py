import math

import pytest

from cyclip.evaluation.robustness import logit_linear_fit, predicted_accuracy, robustness_table


def _logit(p):
    return math.log(p / (1 - p))


def test_single_model_reports_relative_robustness():
    out = robustness_table({"m": {"test": 80.0, "sketch": 40.0, "noisy": 60.0}}, "test")
    assert out["method"] == "relative" and out["fits"] == {}
    rows = {r["shift"]: r for r in out["rows"]}
    assert rows["sketch"]["relative_robustness"] == pytest.approx(0.5)
    assert rows["noisy"]["drop"] == pytest.approx(20.0)
    assert "effective_robustness" not in rows["sketch"]


def test_two_models_without_baseline_do_not_fit():
    out = robustness_table({"a": {"test": 50.0, "s": 30.0}, "b": {"test": 70.0, "s": 40.0}}, "test")
    assert out["method"] == "relative"


def test_effective_robustness_on_exact_logit_line():
    # Three baseline models on logit(shift) = 0.5 * logit(id) - 1; a fourth lies 5 points above.
    ids = [30.0, 50.0, 70.0]
    acc = {
        f"m{i}": {"test": a, "s": 100 / (1 + math.exp(-(0.5 * _logit(a / 100) - 1)))}
        for i, a in enumerate(ids)
    }
    expected = predicted_accuracy(60.0, 0.5, -1.0)
    acc["robust"] = {"test": 60.0, "s": expected + 5.0}
    out = robustness_table(acc, "test", baseline=["m0", "m1", "m2"])
    assert out["method"] == "effective"
    assert out["fits"]["s"]["slope"] == pytest.approx(0.5)
    assert out["fits"]["s"]["intercept"] == pytest.approx(-1.0)
    rows = {r["model"]: r for r in out["rows"]}
    assert rows["robust"]["effective_robustness"] == pytest.approx(5.0)
    assert rows["m1"]["effective_robustness"] == pytest.approx(0.0, abs=1e-9)


def test_fit_needs_distinct_accuracies_and_missing_split_is_an_error():
    with pytest.raises(ValueError, match="same in-distribution accuracy"):
        logit_linear_fit([50.0, 50.0], [30.0, 40.0])
    with pytest.raises(ValueError, match="no in-distribution accuracy"):
        robustness_table({"m": {"sketch": 1.0}}, "test")
