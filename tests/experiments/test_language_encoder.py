"""experiments/language_encoder.py: the claim verdicts from per-seed metrics (no training)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "language_encoder.py"


def load():
    spec = importlib.util.spec_from_file_location("language_encoder", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["language_encoder"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_claims_follow_the_direction_and_the_seed_noise():
    le = load()
    sts, uni = "stsbenchmark/test/sts/spearman", "shapes/val/geometry/uniformity_text"

    def runs(sts_values, uni_values):
        return [{sts: s, uni: u} for s, u in zip(sts_values, uni_values)]

    per_method = {
        "cyclip": runs([20.0, 21.0, 22.0], [-1.0, -1.1, -0.9]),
        "cyclip+unsup": runs([30.0, 31.0, 32.0], [-1.0, -0.9, -1.1]),  # STS up, uniformity same
        "cyclip+sup": runs([10.0, 11.0, 12.0], [-3.0, -3.1, -2.9]),  # STS down, more uniform
    }
    cfg = le.QUICK
    text, data = le.render(cfg, (0.1,), {}, {}, per_method, 1.0, quick=True)
    claims = data["claims"]
    assert claims["1. language encoder"][0].startswith("cyclip+unsup STS-B test Spearman: holds")
    assert "cyclip+sup STS-B test Spearman: not shown" in claims["1. language encoder"][1]
    assert (
        "cyclip+unsup text uniformity (lower = more uniform): not shown"
        in claims["3. uniformity"][0]
    )
    assert "cyclip+sup text uniformity (lower = more uniform): holds" in claims["3. uniformity"][1]
    assert "| STS-B test Spearman | 21.00 ± 1.00 | 31.00 ± 1.00 | 11.00 ± 1.00 |" in text
