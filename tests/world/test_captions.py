"""The caption grammar: every caption is true of its scene, varied, and fits the text context."""

from __future__ import annotations

import pytest
from open_clip.tokenizer import SimpleTokenizer

from cyclip.world import load_pairs, load_retrieval
from cyclip.world.captions import (
    CaptionPlan,
    article,
    describe,
    distinct_captions,
    estimate_tokens,
    true_relations,
)
from cyclip.world.rng import ItemRng, derive_seed
from cyclip.world.scene import Scene, sample_captioned_scene, sample_object
from cyclip.world.vocabulary import seen_pairs

from .caption_parser import check_caption, mentions, words


def _scenes(n: int, stream: str = "test-captions"):
    for i in range(n):
        rng = ItemRng(derive_seed(stream, i))
        yield rng, sample_captioned_scene(rng, seen_pairs())


def test_captions_are_true_of_their_scenes():
    checked = 0
    for rng, scene in _scenes(3000):
        caption = describe(scene, rng)
        assert check_caption(scene, caption) == [], (caption, scene)
        checked += len(mentions(caption))
    assert checked > 3000  # the parser actually read noun phrases


def test_parser_catches_false_captions():
    # The checker itself must be able to fail: lies about colour, count and position.
    rng = ItemRng(1)
    red_circle = sample_object(rng, "red", "circle", (0, 0))
    scene = Scene((red_circle,), (150, 150, 150))
    assert check_caption(scene, "A red circle in the top left corner.") == []
    assert check_caption(scene, "A blue circle.")
    assert check_caption(scene, "Two red circles.")
    assert check_caption(scene, "A red circle at the bottom.")
    assert check_caption(scene, "The circle is green.")


def test_single_object_captions_name_the_right_position():
    seen_positions = 0
    for i in range(2000):
        rng = ItemRng(derive_seed("positions", i))
        obj = sample_object(rng, "green", "star", (i % 3, (i // 3) % 3))
        scene = Scene((obj,), (150, 150, 150))
        caption = describe(scene, rng, CaptionPlan(position=True))
        assert check_caption(scene, caption) == [], caption
        seen_positions += any(
            w in words(caption)
            for w in ("top", "bottom", "left", "right", "centre", "middle", "center")
        )
    assert seen_positions > 1500


def _relation_claims(caption: str) -> list[tuple[str, str]]:
    text = " ".join(words(caption))
    forward = {
        "to the left of": "left", "left of": "left", "to the right of": "right",
        "right of": "right", "above": "above", "below": "below", "under": "below",
        "next to": "next", "beside": "next",
    }  # fmt: skip
    seen_from_first = {
        "to its right": "left", "to its left": "right", "below it": "above",
        "under it": "above", "above it": "below", "next to it": "next", "beside it": "next",
    }  # fmt: skip
    for table in (seen_from_first, forward):
        for phrase in sorted(table, key=len, reverse=True):
            if f" {phrase} " in f" {text} ":
                return [(phrase, table[phrase])]
    return []


def test_relations_compare_grid_cells():
    found = 0
    for i in range(3000):
        rng = ItemRng(derive_seed("relations", i))
        cells = rng.sample([(r, c) for r in range(3) for c in range(3)], 2)
        a = sample_object(rng, "red", "circle", cells[0])
        b = sample_object(rng, "blue", "star", cells[1])
        scene = Scene((a, b), (150, 150, 150))
        caption = describe(scene, rng, CaptionPlan(colour=True, shape=True))
        claims = _relation_claims(caption)
        if not claims:
            continue
        found += 1
        order = [m.shape for m in mentions(caption)]
        first, second = (a, b) if order[0] == "circle" else (b, a)
        assert claims[0][1] in true_relations(first, second), (caption, first, second)
    assert found > 300


def test_true_relations_hand_cases():
    rng = ItemRng(0)
    left = sample_object(rng, "red", "circle", (1, 0))
    right = sample_object(rng, "red", "circle", (1, 1))
    top_right = sample_object(rng, "red", "circle", (0, 2))
    assert true_relations(left, right) == ["left", "next"]
    assert true_relations(right, left) == ["right", "next"]
    assert true_relations(top_right, left) == ["right", "above"]
    assert true_relations(left, top_right) == ["left", "below"]


def test_counts_are_exact():
    counted = 0
    for rng, scene in _scenes(3000, "counts"):
        caption = describe(scene, rng)
        for m in mentions(caption):
            if m.count is not None:
                counted += 1
                n = sum(
                    (m.colour in (None, o.colour))
                    and (m.shape in (None, o.shape))
                    and (m.size in (None, o.size))
                    for o in scene.objects
                )
                assert n == m.count, caption
    assert counted > 200


def test_caption_variety():
    pairs = load_pairs("shapes/pretrain", size=2000)
    captions = [pairs.describe_item(i)[1] for i in range(len(pairs))]
    assert len(set(captions)) > 0.75 * len(captions)
    first_words = {c.split()[0] for c in captions}
    assert len(first_words) >= 8  # many sentence frames, not one template


def test_retrieval_captions_are_distinct_and_true():
    retrieval = load_retrieval("shapes/retrieval", size=200)
    for i in range(len(retrieval)):
        scene, captions = retrieval.describe_item(i)
        assert len(captions) == 5 and len(set(captions)) == 5
        for caption in captions:
            assert check_caption(scene, caption) == [], caption


def test_distinct_captions_raises_when_impossible():
    rng = ItemRng(3)
    scene = Scene((sample_object(rng, "red", "circle", (1, 1)),), (150, 150, 150))
    with pytest.raises(RuntimeError, match="distinct captions"):
        distinct_captions(scene, rng, k=10_000, max_tries=50)


def test_captions_fit_the_32_token_context():
    tokenizer = SimpleTokenizer()
    pairs = load_pairs("shapes/pretrain", size=3000)
    captions = [pairs.describe_item(i)[1] for i in range(len(pairs))]
    lengths = [len(tokenizer.encode(c)) + 2 for c in captions]  # + start and end tokens
    truncated = sum(n > 32 for n in lengths) / len(lengths)
    assert truncated <= 0.001
    # The estimate that drives shortening never undercounts by more than one token.
    assert all(len(tokenizer.encode(c)) - estimate_tokens(c) <= 1 for c in captions)


def test_article():
    assert article("orange circle") == "an"
    assert article("red circle") == "a"
    assert article("hexagon") == "a"
