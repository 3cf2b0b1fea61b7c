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
