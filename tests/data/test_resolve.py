"""Source detection, error messages for bad sources, and fingerprints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from data_helpers import coloured_image

from cyclip.data import detect_type, fingerprint, open_classification, open_pairs, open_retrieval


def test_detection_of_every_layout(tmp_path: Path, make_pairs_csv, make_shards) -> None:
    csv_path = make_pairs_csv(2)
    shard = make_shards(2, 2)[0]
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    (tmp_path / "coco" / "annotations" / "captions_val2017.json").write_text("{}")
    (tmp_path / "folder" / "cat").mkdir(parents=True)
    coloured_image(0).save(tmp_path / "folder" / "cat" / "0.png")
    (tmp_path / "labelled").mkdir()
    (tmp_path / "labelled" / "labels.csv").write_text("image,label\n")
    (tmp_path / "cifar" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "cifar" / "cifar-10-batches-py" / "batches.meta").write_bytes(b"")
    expected = {
        "builtin:shapes/pretrain": "builtin",
        str(csv_path): "csv",
        str(shard): "webdataset",
        f"{shard.parent}/{{00000..00001}}.tar": "webdataset",
        str(tmp_path / "coco"): "coco",
        str(tmp_path / "coco" / "annotations" / "captions_val2017.json"): "coco",
        str(tmp_path / "folder"): "imagefolder",
        str(tmp_path / "labelled"): "labels-csv",
        str(tmp_path / "cifar"): "cifar",
    }
    assert {s: detect_type(s) for s in expected} == expected


def test_missing_and_unrecognised_sources(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data source not found: .*nowhere"):
        open_pairs(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ValueError, match="unrecognised data layout; accepted sources: 'builtin:NAME'"
    ):
        open_classification(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="unknown builtin task"):
        open_pairs("builtin:shapes/nope")
    with pytest.raises(ValueError, match="is a classification task, not pairs"):
        open_pairs("builtin:shapes/shape/test")
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        open_pairs("builtin:shapes/pretrain?colour=3")


def test_explicit_dataset_type_overrides_detection(tmp_path: Path) -> None:
    for i in range(2):
        coloured_image(i).save(tmp_path / f"{i}.png")
    (tmp_path / "list.txt").write_text("image,caption\n0.png,zero\n1.png,one\n")
    with pytest.raises(ValueError, match="unrecognised"):
        open_pairs(str(tmp_path / "list.txt"))
    assert open_retrieval(str(tmp_path / "list.txt"), dataset_type="csv")[1]["captions"] == ["one"]


def test_fingerprint_changes_with_the_data_and_options(make_pairs_csv, tmp_path: Path) -> None:
    path = make_pairs_csv(3)
    first = fingerprint(str(path))
    assert first == fingerprint(str(path)) and len(first) == 32
    assert fingerprint(str(path), caption_key="title") != first
    with open(path, "a") as f:
        f.write("images/00000.png,one more\n")
    second = fingerprint(str(path))
    assert second != first
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched, same size
    assert fingerprint(str(path)) != second


def test_fingerprint_of_folders_shards_and_builtin(tmp_path: Path, make_shards) -> None:
    (tmp_path / "f" / "cat").mkdir(parents=True)
    coloured_image(0).save(tmp_path / "f" / "cat" / "0.png")
    before = fingerprint(str(tmp_path / "f"))
    coloured_image(1).save(tmp_path / "f" / "cat" / "1.png")
    assert fingerprint(str(tmp_path / "f")) != before
    names = tmp_path / "names.json"
    names.write_text(json.dumps(["kitty"]))
    with_names = fingerprint(str(tmp_path / "f"), classnames=str(names))
    names.write_text(json.dumps(["a cat"]))
    (tmp_path / "f" / "classes.json").write_text(json.dumps(["feline"]))
    # class names change the prompts, not the images: the id (and cached image features) stay
    assert fingerprint(str(tmp_path / "f"), classnames=str(names)) == with_names
    assert with_names == fingerprint(str(tmp_path / "f"))

    shards = make_shards(2, 2)
    spec = f"{shards[0].parent}/{{00000..00001}}.tar"
    before = fingerprint(spec)
    shards[1].write_bytes(shards[1].read_bytes() + b"\0" * 512)
    assert fingerprint(spec) != before

    small, large = fingerprint("builtin:shapes/val?size=10"), fingerprint("builtin:shapes/val")
    assert small.startswith("builtin:") and small != large
