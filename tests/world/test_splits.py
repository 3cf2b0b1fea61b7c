"""The benchmark splits: held-out combinations, class balance, superclasses, shifts."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from cyclip import world
from cyclip.world.render import render
from cyclip.world.vocabulary import COLOURS, HELD_OUT_PAIRS, SHAPES, seen_pairs

HELD_OUT = set(HELD_OUT_PAIRS)
SPLITS = ("train", "test", "sketch", "noisy", "novel")
FACTORS = ("shape", "colour", "colour-shape")


def test_held_out_pairs_are_one_per_shape_and_colour():
    assert len(HELD_OUT) == len(SHAPES) == len(COLOURS)
    assert {c for c, _ in HELD_OUT} == {c.name for c in COLOURS}
    assert {s for _, s in HELD_OUT} == {s.name for s in SHAPES}
    assert len(seen_pairs()) == len(SHAPES) * len(COLOURS) - len(HELD_OUT)
    assert not HELD_OUT & set(seen_pairs())


@pytest.mark.parametrize(
    ("name", "limit"),
    [("shapes/pretrain", 5000), ("shapes/val", None), ("shapes/retrieval", None)],
)
def test_held_out_pairs_never_appear_in_captioned_data(name, limit):
    if world.task_kind(name) == "pairs":
        dataset = world.load_pairs(name, size=limit)
    else:
        dataset = world.load_retrieval(name, size=limit)
    present = Counter()
    for i in range(len(dataset)):
        scene, _ = dataset.describe_item(i)
        present.update((o.colour, o.shape) for o in scene.objects)
    assert not HELD_OUT & set(present)
    assert set(present) == set(seen_pairs())  # and every seen pair does appear


@pytest.mark.parametrize("split", SPLITS)
def test_classification_splits_use_the_right_pairs(split):
    dataset, _ = world.load_classification(f"shapes/colour-shape/{split}")
    pairs = Counter()
    for i in range(len(dataset)):
        scene, _ = dataset.describe_item(i)
        assert len(scene.objects) == 1  # one object: the label is unambiguous
        pairs[(scene.objects[0].colour, scene.objects[0].shape)] += 1
    if split == "novel":
        assert set(pairs) == HELD_OUT
    else:
        assert set(pairs) == set(seen_pairs())


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("split", SPLITS)
def test_labels_are_balanced(factor, split):
    dataset, info = world.load_classification(f"shapes/{factor}/{split}")
    counts = Counter(dataset.describe_item(i)[1] for i in range(len(dataset)))
    assert max(counts.values()) - min(counts.values()) <= 1
    expected_classes = {"colour-shape": 8 if split == "novel" else 56}.get(factor, 8)
    assert len(counts) == expected_classes
    assert all(0 <= label < len(info.classnames) for label in counts)


def test_superclasses_are_the_shapes():
    _, fine = world.load_classification("shapes/colour-shape/test")
    _, shape_info = world.load_classification("shapes/shape/test")
    assert fine.superclasses is not None and len(fine.classnames) == 64
    for name, superclass in zip(fine.classnames, fine.superclasses):
        assert name.split(" ")[1] == superclass
    assert set(fine.superclasses) == set(shape_info.classnames)


def test_the_three_factors_label_the_same_images_consistently():
    fine, fine_info = world.load_classification("shapes/colour-shape/novel", size=40)
    shape, shape_info = world.load_classification("shapes/shape/novel", size=40)
    colour, colour_info = world.load_classification("shapes/colour/novel", size=40)
    for i in range(40):
        f, s, c = fine[i], shape[i], colour[i]
        assert np.array_equal(np.asarray(f["image"]), np.asarray(s["image"]))
        assert np.array_equal(np.asarray(f["image"]), np.asarray(c["image"]))
        expected = f"{colour_info.classnames[c['label']]} {shape_info.classnames[s['label']]}"
        assert fine_info.classnames[f["label"]] == expected
        assert fine_info.superclasses[f["label"]] == shape_info.classnames[s["label"]]
        scene, _ = fine.describe_item(i)
        assert expected == f"{scene.objects[0].colour} {scene.objects[0].shape}"


def test_train_and_test_images_differ():
    train, _ = world.load_classification("shapes/shape/train", size=100)
    test, _ = world.load_classification("shapes/shape/test", size=100)
    assert all(train.describe_item(i)[0] != test.describe_item(i)[0] for i in range(100))


def _changed_pixels(scene, background) -> int:
    image = np.asarray(render(scene, 64), dtype=np.int16)
    return int((np.abs(image - np.asarray(background)).max(axis=2) > 30).sum())


def test_sketch_draws_outlines_only():
    sketch, _ = world.load_classification("shapes/shape/sketch", size=30)
    outline_px = filled_px = 0
    for i in range(30):
        scene, _ = sketch.describe_item(i)
        assert scene.style == "outline"
        outline_px += _changed_pixels(scene, scene.background)
        filled_px += _changed_pixels(replace(scene, style="filled"), scene.background)
    # Small shapes are mostly contour at 64 px; over a split the outline covers far less.
    assert 0 < outline_px < 0.6 * filled_px


def test_noisy_backgrounds_are_textured():
    noisy, _ = world.load_classification("shapes/shape/noisy", size=20)
    clean, _ = world.load_classification("shapes/shape/test", size=20)

    # Corner patches rarely hold an object; a plain background is flat there.
    def corner_std(item):
        return np.asarray(item["image"], dtype=np.float32)[:6, :6].std(axis=(0, 1)).max()

    assert np.median([corner_std(noisy[i]) for i in range(20)]) > 8.0
    assert np.median([corner_std(clean[i]) for i in range(20)]) < 1.0
