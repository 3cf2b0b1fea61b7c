"""benchmarks/shape_gap.py: the caption and pixel measurements behind "Why shape is not learned"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import shape_gap  # noqa: E402

from cyclip.world.captions import sample_plan  # noqa: E402
from cyclip.world.rng import ItemRng  # noqa: E402


def test_caption_stats_match_the_grammar_plan_probabilities() -> None:
    stats = shape_gap.caption_stats(n=400)
    # The grammar names the shape of a caption's objects with the plan's probability (0.85, plus
    # half of the rare draws that left out both), colour alike: so the share must sit near it.
    plans = [sample_plan(ItemRng(seed)) for seed in range(2000)]
    expected = 100 * sum(p.shape for p in plans) / len(plans)
    assert abs(stats["objects_shape_named_pct"] - expected) < 6
    assert abs(stats["objects_colour_named_pct"] - expected) < 6
    assert stats["captions_naming_every_shape_pct"] + stats["captions_naming_no_shape_pct"] <= 100
    assert set(stats["per_shape_named_pct"]) == set(shape_gap.SHAPE_WORDS)


def test_shape_words_match_synonyms_and_plurals_but_not_substrings() -> None:
    square = shape_gap.SHAPE_WORDS["square"]
    assert square.search("two boxes on the left") and square.search("a blue square.")
    assert not shape_gap.SHAPE_WORDS["star"].search("a start")
    assert shape_gap.SHAPE_WORDS["cross"].search("a plus sign")


def test_pixel_sizes_are_diameters_over_patches() -> None:
    out = shape_gap.pixel_sizes(32, 8)
    assert out["small_px"] == pytest.approx(6.4) and out["small_patches_across"] == 0.8
    assert "large_patches_across" not in shape_gap.pixel_sizes(64, None)


def test_demo_trains_the_model_it_is_given() -> None:
    from cyclip.cli.demo import DemoArgs, _train_config

    assert _train_config(DemoArgs(), "x").model.name == "cyclip-rn-tiny"
    assert _train_config(DemoArgs(model="cyclip-small"), "x").model.name == "cyclip-small"
