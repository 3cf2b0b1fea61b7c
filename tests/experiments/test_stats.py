"""Seed statistics and tables of cyclip.experiments.stats."""

from __future__ import annotations

import math

import pytest

from cyclip.experiments.stats import compare, markdown_tables, summarise


def test_summarise_uses_the_sample_standard_deviation() -> None:
    s = summarise([1.0, 2.0, 3.0])
    assert s.mean == pytest.approx(2.0)
    assert s.std == pytest.approx(1.0)  # ddof = 1
    assert s.n == 3
    assert summarise([5.0]).std == 0.0
    with pytest.raises(ValueError):
        summarise([])


def test_compare_welch_standard_error_and_verdict() -> None:
    a, b = [10.0, 11.0, 12.0], [14.0, 15.0, 16.0]
    c = compare(a, b)
    assert c.diff == pytest.approx(4.0)
    assert c.se == pytest.approx(math.sqrt(1 / 3 + 1 / 3))
    assert c.exceeds_noise and c.verdict() == "yes, higher"
    assert 0 < c.p_value < 0.05
    reverse = compare(b, a)
    assert reverse.verdict() == "yes, lower"
    overlapping = compare([10.0, 12.0, 14.0], [11.0, 13.0, 15.0])
    assert not overlapping.exceeds_noise and overlapping.verdict() == "no"


def test_compare_without_spread_has_no_p_value() -> None:
    c = compare([1.0, 1.0], [2.0, 2.0])
    assert c.se == 0.0 and math.isnan(c.p_value)
    assert c.exceeds_noise  # any difference exceeds zero noise


def test_markdown_tables_rows_and_numbers() -> None:
    key = "shapes/shape/test/zero_shot/top1"
    geometry = "shapes/val/geometry/modality_gap"
    runs = {
        "clip": [{key: 20.0, geometry: 0.5}, {key: 22.0, geometry: 0.7}],
        "cyclip": [{key: 30.0, geometry: 0.6}, {key: 32.0, geometry: 0.6}],
    }
    text, data = markdown_tables(runs)
    assert (
        "| shape test top-1 | 21.00 ± 1.41 | 31.00 ± 1.41 | +10.00 ± 1.41 | yes, higher |" in text
    )
    assert "### Geometry" in text and "### Retrieval" not in text  # no retrieval metrics given
    assert data[key]["diff"] == pytest.approx(10.0)
    assert data[geometry]["exceeds_noise"] is False


def test_compositional_metrics_get_their_table() -> None:
    swap = "shapes/compositional/image_text/swap_att"
    blind = "shapes/compositional/text_only/overall"
    family = "shapes/compositional/image_text_family/swap"
    runs = {
        m: [{swap: v, blind: 50.0, family: v}, {swap: v + 2, blind: 52.0, family: v}]
        for m, v in (("clip", 50.0), ("cyclip", 60.0))
    }
    text, data = markdown_tables(runs)
    assert "### Compositionality" in text
    assert "| swap_att image-text | 51.00 ± 1.41 | 61.00 ± 1.41 | +10.00 ± 1.41 |" in text
    assert "| overall text-only |" in text and "| swap family image-text |" in text
    assert data[blind]["diff"] == 0.0


def test_paired_comparison_removes_a_shared_seed_effect() -> None:
    from scipy import stats as scipy_stats

    from cyclip.experiments.stats import compare_paired

    seed_effect = {0: 10.0, 1: 50.0, 2: 30.0, 3: 70.0}
    a = dict(seed_effect)
    b = {s: v + d for (s, v), d in zip(seed_effect.items(), (1.0, 1.2, 0.8, 1.0), strict=True)}
    b[9] = 0.0  # a seed only one method ran is dropped
    paired = compare_paired(a, b)
    assert paired.diff == pytest.approx(1.0) and paired.se == pytest.approx(0.0816, abs=1e-4)
    assert paired.exceeds_noise  # unpaired, the seed effect (std ~26) hides the +1
    assert not compare(list(a.values()), [b[s] for s in a]).exceeds_noise
    expected = scipy_stats.ttest_rel([b[s] for s in a], list(a.values())).pvalue
    assert paired.p_value == pytest.approx(expected)
    assert math.isnan(compare_paired({0: 1.0}, {1: 2.0}).diff)  # no seed in common


def test_paired_table_has_a_column_per_pair_that_ran_and_marks_clear_differences() -> None:
    from cyclip.experiments.stats import paired_table

    per_seed = {
        "clip": {0: {"m": 10.0, "r": 0.5}, 1: {"m": 20.0, "r": 0.4}, 2: {"m": 30.0, "r": 0.6}},
        "cyclip": {0: {"m": 11.0, "r": 0.4}, 1: {"m": 21.1, "r": 0.32}, 2: {"m": 30.9, "r": 0.5}},
    }
    pairs = [("clip", "cyclip"), ("siglip", "cy-siglip")]  # no siglip runs: one column
    lines = paired_table(per_seed, pairs, [("M", "m"), ("R", "r"), ("X", "x")]).splitlines()
    assert lines[0] == "| metric | cyclip − clip |"
    assert lines[2].startswith("| M | +1.00 ± 0.06 (") and lines[2].endswith(") * |")
    assert lines[3].startswith("| R | -0.0933 ± 0.0067 (")  # small values: four decimals
    assert len(lines) == 4  # X is in no run
    assert paired_table(per_seed, [("siglip", "cy-siglip")], [("M", "m")]) == ""
