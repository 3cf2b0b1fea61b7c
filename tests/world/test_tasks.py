"""Task names, kinds, item types and fingerprints of the builtin suite."""

from __future__ import annotations

import pytest
from PIL import Image

from cyclip import world
from cyclip.types import ClassificationInfo
from cyclip.world.tasks import CLASSIFICATION_SIZES, canonical_name, resolve


def test_task_list():
    names = world.list_tasks()
    assert names[:3] == ["shapes/pretrain", "shapes/val", "shapes/retrieval"]
    assert len(names) == 3 + 1 + 1 + 3 * 5
    assert "shapes/compositional" in names and "shapes/sts" in names
    for factor in ("shape", "colour", "colour-shape"):
        for split in ("train", "test", "sketch", "noisy", "novel"):
            assert f"shapes/{factor}/{split}" in names
    assert not any(n.startswith("builtin:") for n in names)


@pytest.mark.parametrize("name", world.list_tasks())
def test_every_task_loads_and_yields_its_item_type(name):
    kind = world.task_kind(name)
    assert world.task_kind(f"builtin:{name}") == kind
    if kind == "sts":  # text only: sentence pairs with a gold score
        item = world.load_sts(name, size=3)[2]
        assert isinstance(item["sentence1"], str) and isinstance(item["sentence2"], str)
        assert 0.0 <= item["score"] <= 5.0
        return
    if kind == "pairs":
        dataset = world.load_pairs(name, size=3, image_size=32)
        item = dataset[2]
        assert set(item) == {"image", "caption"} and isinstance(item["caption"], str)
    elif kind == "retrieval":
        dataset = world.load_retrieval(name, image_size=32, size=3)
        item = dataset[2]
        assert set(item) == {"image", "captions"} and len(item["captions"]) == 5
    elif kind == "compositional":
        dataset = world.load_compositional(name, image_size=32, size=3)
        item = dataset[2]
        assert set(item) == {"image", "positive", "negatives", "category"}
    else:
        dataset, info = world.load_classification(name, image_size=32, size=3)
        item = dataset[2]
        assert set(item) == {"image", "label"} and 0 <= item["label"] < len(info.classnames)
        assert isinstance(info, ClassificationInfo)
    assert isinstance(item["image"], Image.Image)
    assert item["image"].mode == "RGB" and item["image"].size == (32, 32)
    assert dataset.metadata["world_version"] == "shapes-v1"


def test_default_sizes():
    assert len(world.load_pairs("shapes/pretrain")) == 100_000
    assert len(world.load_pairs("shapes/val")) == 2_000
    assert len(world.load_retrieval("shapes/retrieval")) == 1_000
    for split, size in CLASSIFICATION_SIZES.items():
        assert len(world.load_classification(f"shapes/shape/{split}")[0]) == size
    assert len(world.load_pairs("shapes/pretrain", size=123)) == 123


def test_name_aliases():
    assert canonical_name("builtin:shapes-v1/colour/test") == "shapes/colour/test"
    assert canonical_name(" shapes/val ") == "shapes/val"
    assert resolve("shapes-v1/val").name == "shapes/val"


def test_unknown_names_are_actionable():
    with pytest.raises(ValueError, match="Did you mean 'shapes/colour/test'") as err:
        world.task_kind("shapes/color/test")
    assert "shapes/pretrain" in str(err.value)  # lists the valid names
    with pytest.raises(ValueError, match="version 'shapes-v7' is not available"):
        world.task_kind("shapes-v7/pretrain")


def test_wrong_kind_is_rejected():
    with pytest.raises(ValueError, match="is a classification task, not pairs"):
        world.load_pairs("shapes/shape/test")
    with pytest.raises(ValueError, match="retrieval tasks are: shapes/retrieval"):
        world.load_retrieval("shapes/val")


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="size must be a positive"):
        world.load_pairs("shapes/pretrain", size=0)
    with pytest.raises(ValueError, match="image_size must be at least"):
        world.load_pairs("shapes/pretrain", image_size=4)


def test_fingerprint_identifies_the_data():
    fp = world.fingerprint("shapes/colour/test")
    assert fp == world.fingerprint("builtin:shapes-v1/colour/test", image_size=64)
    assert fp.startswith("builtin:shapes-v1/colour/test?n=1008&px=64&def=")
    others = {
        world.fingerprint("shapes/colour/test", size=10),
        world.fingerprint("shapes/colour/test", image_size=32),
        world.fingerprint("shapes/shape/test"),
        world.fingerprint("shapes/colour/novel"),
    }
    assert fp not in others and len(others) == 4
    dataset, _ = world.load_classification("shapes/colour/test", size=10)
    assert dataset.metadata["fingerprint"] == world.fingerprint("shapes/colour/test", size=10)


def test_shapes_v1_is_frozen():
    # Changing what shapes-v1 produces breaks every cached feature and published number:
    # bump WORLD_VERSION instead (and update these values).
    pairs = world.load_pairs("shapes/pretrain", size=3)
    assert [pairs.describe_item(i)[1] for i in range(3)] == GOLDEN_PRETRAIN
    sketch, _ = world.load_classification("shapes/colour-shape/sketch")
    obj = sketch.describe_item(5)[0].objects[0]
    assert (obj.colour, obj.shape, obj.size, obj.row, obj.col) == GOLDEN_SKETCH_5
    assert world.fingerprint("shapes/pretrain").endswith(GOLDEN_DIGEST)


GOLDEN_PRETRAIN = [
    "There is a large blue hexagon, a large yellow heart and a large black square.",
    "The star is pink.",
    "A scene with a pair of pink hearts.",
]
GOLDEN_SKETCH_5 = ("pink", "circle", "large", 0, 2)
GOLDEN_DIGEST = "def=66b63787dad5"
