"""The builtin compositional benchmark: every negative is the positive with exactly one edit."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from cyclip import world
from cyclip.world.compositional import (
    CATEGORIES,
    CONVERSE,
    RELATION_PHRASES,
    CaptionSpec,
    Mention,
    holds,
    render_caption,
)
from cyclip.world.vocabulary import COLOURS, NUMBER_WORDS, SHAPES, seen_pairs

N = 250  # 50 items per category

COLOUR_NAMES = {c.name for c in COLOURS}
SHAPE_WORDS = {s.name: s.name for s in SHAPES} | {s.plural: s.name for s in SHAPES}
COUNT_WORDS = {"a": 1, "an": 1} | {w: n for n, w in NUMBER_WORDS.items()}


def parse(text: str) -> tuple[list[Mention], str | None]:
    """Read a caption back into its mentions and relation, from the words alone."""
    body = text.lower().rstrip(".")
    for frame_word in ("a picture of ", "an image of ", "a drawing of ", "a scene with "):
        body = body.removeprefix(frame_word)
    body = body.removesuffix(" on a grey background")
    relation, parts = None, body.split(" and ")
    for name, phrase in RELATION_PHRASES.items():
        if f" {phrase} " in body:
            relation, parts = name, body.split(f" {phrase} ")
    mentions = []
    for part in parts:
        count, colour, shape = re.fullmatch(r"(\w+) (\w+) (\w+)", part).groups()
        assert colour in COLOUR_NAMES and shape in SHAPE_WORDS, part
        mentions.append(Mention(COUNT_WORDS[count], colour, SHAPE_WORDS[shape]))
    return mentions, relation


@pytest.fixture(scope="module")
def items():
    dataset = world.load_compositional(size=N)
    return [(dataset.describe_item(i), dataset.texts(i)) for i in range(N)]


def test_categories_cycle_and_scenes_hold_two_or_more_objects(items):
    assert Counter(texts["category"] for _, texts in items) == {c: N // 5 for c in CATEGORIES}
    for i, (item, texts) in enumerate(items):
        assert item.category == texts["category"] == CATEGORIES[i % 5]
        assert len(item.scene.objects) >= 2


def test_positive_is_true_and_negative_false_of_the_scene(items):
    for item, texts in items:
        assert holds(item.positive, item.scene), texts
        assert not holds(item.negative, item.scene), texts
        assert texts["positive"] == render_caption(item.positive)
        assert texts["negatives"] == [render_caption(item.negative)]
        assert texts["positive"] != texts["negatives"][0]


def test_captions_parse_back_to_their_specs(items):
    for item, texts in items:
        for spec, text in (
            (item.positive, texts["positive"]),
            (item.negative, texts["negatives"][0]),
        ):
            mentions, relation = parse(text)
            assert tuple(mentions) == spec.mentions and relation == spec.relation, text


def _changed(a: CaptionSpec, b: CaptionSpec) -> list[tuple[int, str]]:
    """(mention index, field) pairs that differ between two specs."""
    return [
        (k, f)
        for k, (ma, mb) in enumerate(zip(a.mentions, b.mentions))
        for f in ("count", "colour", "shape")
        if getattr(ma, f) != getattr(mb, f)
    ]


def test_each_negative_differs_in_exactly_the_stated_way(items):
    for item, texts in items:
        pos, neg = item.positive, item.negative
        assert neg.frame == pos.frame, texts  # same sentence frame
        diff = _changed(pos, neg)
        (a, b), (na, nb) = pos.mentions, neg.mentions
        if item.category == "swap_att":
            assert diff == [(0, "colour"), (1, "colour")]
            assert (na.colour, nb.colour) == (b.colour, a.colour) and neg.relation is None
        elif item.category == "swap_rel":
            assert diff == [] and neg.relation == CONVERSE[pos.relation]
            assert pos.relation in RELATION_PHRASES
        elif item.category == "count":
            assert len(diff) == 1 and diff[0][1] == "count" and neg.relation is None
        elif item.category == "replace_att":
            assert len(diff) == 1 and diff[0][1] == "colour"
            assert neg.mentions[diff[0][0]].colour not in {a.colour, b.colour}
        else:
            assert len(diff) == 1 and diff[0][1] == "shape"
            assert neg.mentions[diff[0][0]].shape not in {a.shape, b.shape}


def test_no_text_side_shortcut(items):
    # Every colour-shape either caption names is a pre-training pair, and the counts a negative
    # says are distributed like the positives' (1, 2 or 3 of the counted group).
    seen = set(seen_pairs())
    for item, _ in items:
        for spec in (item.positive, item.negative):
            assert {(m.colour, m.shape) for m in spec.mentions} <= seen
    counts = {
        kind: Counter(
            max(m.count for m in getattr(it, kind).mentions)
            for it, _ in items
            if it.category == "count"
        )
        for kind in ("positive", "negative")
    }
    for kind in counts:
        assert set(counts[kind]) == {1, 2, 3}


def test_relations_are_plain_on_the_grid(items):
    for item, _ in items:
        if item.category == "swap_rel":
            a, b = item.scene.objects
            same = a.row == b.row if item.positive.relation in ("left", "right") else a.col == b.col
            assert same


def test_items_are_deterministic_and_a_prefix():
    small, large = world.load_compositional(size=5), world.load_compositional(size=50)
    assert [small.texts(i) for i in range(5)] == [large.texts(i) for i in range(5)]
    item = small[3]
    assert set(item) == {"image", "positive", "negatives", "category"}
    assert item["image"].size == (64, 64)
    assert small.metadata["fingerprint"] != world.fingerprint("shapes/compositional", size=6)
    assert "&comp=" in small.metadata["fingerprint"]


def test_shapes_v1_compositional_is_frozen():
    dataset = world.load_compositional(size=3)
    assert [dataset.texts(i) for i in range(3)] == GOLDEN


GOLDEN = [
    {
        "positive": "A picture of a yellow cross and a pink diamond.",
        "negatives": ["A picture of a pink cross and a yellow diamond."],
        "category": "swap_att",
    },
    {
        "positive": "A drawing of a yellow heart to the right of a red circle.",
        "negatives": ["A drawing of a yellow heart to the left of a red circle."],
        "category": "swap_rel",
    },
    {
        "positive": "An image of two red hexagons and a green star.",
        "negatives": ["An image of a red hexagon and a green star."],
        "category": "count",
    },
]


def test_export_writes_the_n_caption_layout_the_reader_loads(tmp_path):
    from cyclip.evaluation.compositional_sets import read_compositional
    from cyclip.world.export import export_task

    summary = export_task("shapes/compositional", tmp_path / "out", limit=6, image_size=32)
    assert summary.format == "csv" and summary.count == 6
    data = read_compositional(tmp_path / "out" / "compositional.csv")
    dataset = world.load_compositional(size=6)
    assert [it.captions for it in data.items] == [
        (dataset.texts(i)["positive"], *dataset.texts(i)["negatives"]) for i in range(6)
    ]
    assert [it.category for it in data.items] == [CATEGORIES[i % 5] for i in range(6)]
    assert data.missing == 0 and len(data.images) == 6


def test_contact_sheet_shows_both_captions():
    from cyclip.world.preview import item_texts

    (image, lines), *_ = item_texts("shapes/compositional", 2)
    assert lines[0] == "[swap_att]" and lines[1].startswith("+ ") and lines[2].startswith("- ")
