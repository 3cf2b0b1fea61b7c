"""``shapes/sts``: the gold rule and the pairs it scores."""

from __future__ import annotations

from collections import defaultdict

import pytest

from cyclip import world
from cyclip.world.scene import Scene, SceneObject
from cyclip.world.sts import MAX_SCORE, gold_similarity, object_agreement

ALL = ("colour", "shape", "size", "position")


def obj(colour: str, shape: str, size: str = "small", cell: tuple[int, int] = (0, 0)):
    return SceneObject(colour, shape, size, cell[0], cell[1], (0.5, 0.5), 0.2, (0, 0, 0))


def scene(*objects: SceneObject) -> Scene:
    return Scene(tuple(objects), (150, 150, 150))


def test_gold_rule_orders_paraphrase_above_shared_attributes_above_unrelated():
    a = scene(obj("red", "circle", "small", (0, 0)), obj("blue", "star", "large", (2, 2)))
    paraphrase = gold_similarity(a, a, ALL)
    recoloured = scene(
        obj("green", "circle", "small", (0, 0)), obj("blue", "star", "large", (2, 2))
    )
    shares_some = gold_similarity(a, recoloured, ALL)
    unrelated = scene(obj("pink", "heart", "large", (1, 1)))
    little = gold_similarity(a, unrelated, ALL)
    assert paraphrase == MAX_SCORE
    assert paraphrase > shares_some > little
    assert shares_some == pytest.approx(MAX_SCORE * 2 * (1 + 3 / 4) / 4)  # one attribute of 8
    assert little == pytest.approx(MAX_SCORE * 2 * (1 / 4) / 3)  # shares only a size
    assert gold_similarity(a, unrelated, ("colour", "shape")) == 0.0


def test_gold_rule_counts_objects_and_compares_only_mentioned_attributes():
    one = scene(obj("red", "circle", cell=(0, 0)))
    two = scene(obj("red", "circle", cell=(0, 0)), obj("red", "circle", cell=(1, 1)))
    # "a red circle" vs "two red circles": Dice over objects
    assert gold_similarity(one, two, ("colour", "shape")) == pytest.approx(MAX_SCORE * 2 / 3)
    big = scene(obj("red", "circle", "large", (0, 0)))
    assert gold_similarity(one, big, ("colour", "shape")) == MAX_SCORE  # size not said
    assert gold_similarity(one, big, ("colour", "shape", "size")) == pytest.approx(
        MAX_SCORE * 2 / 3
    )
    # the best one-to-one matching, whatever the object order
    ab = scene(obj("red", "circle", cell=(0, 0)), obj("blue", "star", cell=(1, 1)))
    ba = scene(obj("blue", "star", cell=(1, 1)), obj("red", "circle", cell=(0, 0)))
    assert gold_similarity(ab, ba, ALL) == MAX_SCORE
    assert object_agreement(ab.objects[0], ba.objects[0], ("colour", "shape")) == 0.0
    with pytest.raises(ValueError, match="at least one attribute"):
        object_agreement(ab.objects[0], ba.objects[0], ())


@pytest.fixture(scope="module")
def pairs():
    dataset = world.load_sts("shapes/sts", size=400)
    return [dataset.describe_item(i) for i in range(len(dataset))]


def test_pairs_follow_the_rule_and_kinds_rank_as_documented(pairs):
    by_kind = defaultdict(list)
    for pair in pairs:
        by_kind[pair.kind].append(pair.score)
        assert pair.score == gold_similarity(pair.scene_a, pair.scene_b, pair.attributes)
        assert {"colour", "shape"} & set(pair.attributes)  # never compares nothing
        if pair.kind in ("one-edit", "two-edits"):
            # edits keep every surviving object in its cell: positions and relations agree
            cells_a = {(o.row, o.col) for o in pair.scene_a.objects}
            cells_b = {(o.row, o.col) for o in pair.scene_b.objects}
            edits = 1 if pair.kind == "one-edit" else 2
            assert len(cells_a ^ cells_b) <= edits  # only added / removed objects differ
            if edits == 1:
                assert cells_a <= cells_b or cells_b <= cells_a
    assert set(by_kind) == {"paraphrase", "one-edit", "two-edits", "unrelated"}
    assert all(s == MAX_SCORE for s in by_kind["paraphrase"])
    mean = {k: sum(v) / len(v) for k, v in by_kind.items()}
    assert mean["paraphrase"] > mean["one-edit"] > mean["two-edits"] > mean["unrelated"]
    paraphrases = [p for p in pairs if p.kind == "paraphrase"]
    assert sum(p.sentence1 != p.sentence2 for p in paraphrases) >= 0.9 * len(paraphrases)
    scores = {round(p.score, 3) for p in pairs}
    assert len(scores) > 10  # graded, not binary


def test_items_are_reproducible_and_versioned():
    a, b = world.load_sts("shapes/sts", size=5), world.load_sts("builtin:shapes-v1/sts", size=20)
    assert [a[i] for i in range(5)] == [b[i] for i in range(5)]  # a prefix, any instance
    assert set(a[0]) == {"sentence1", "sentence2", "score", "kind"}
    fp = a.metadata["fingerprint"]
    assert fp.startswith("builtin:shapes-v1/sts?n=5&def=") and "&rule=" in fp
    assert fp != b.metadata["fingerprint"]
    assert len(world.load_sts("shapes/sts")) == 1000
    with pytest.raises(ValueError, match="is a pairs task, not sts"):
        world.load_sts("shapes/val")


def test_scene_edits_change_what_they_say(pairs):
    # an edit that changes a compared attribute lowers the gold below a paraphrase
    edited = [p for p in pairs if p.kind == "one-edit"]
    lowered = [p for p in edited if p.score < MAX_SCORE]
    assert len(lowered) >= len(edited) // 2
    assert all(p.scene_a != p.scene_b for p in lowered)


def test_image_tools_refuse_the_text_only_task(tmp_path, capsys):
    from cyclip.cli.data import main
    from cyclip.world.preview import contact_sheet

    with pytest.raises(ValueError, match="text-only task.*cyclip eval --task sts"):
        contact_sheet("shapes/sts", n=2)
    assert main(["show", "shapes/sts", "--out", str(tmp_path / "x.png")]) == 2
    assert "text-only task" in capsys.readouterr().err
