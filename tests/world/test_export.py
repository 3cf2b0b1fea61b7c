"""Export round trips: what is written reads back with plain csv / PIL / tarfile / json."""

from __future__ import annotations

import csv
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclip import world
from cyclip.world.export import export_task


def _close(a: Image.Image, b: Image.Image) -> bool:
    # JPEG at quality 95 is lossy but close on these flat images.
    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
    return float(diff.mean()) < 4.0


def test_pairs_csv_round_trip(tmp_path: Path):
    summary = export_task("shapes/val", tmp_path / "val", limit=12)
    assert (summary.format, summary.count) == ("csv", 12)
    dataset = world.load_pairs("shapes/val", size=12)
    with open(tmp_path / "val" / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["filepath", "title"]
    assert [r["title"] for r in rows] == [dataset[i]["caption"] for i in range(12)]
    for i, row in enumerate(rows):
        image = Image.open(tmp_path / "val" / row["filepath"])  # relative to the CSV's folder
        assert image.format == "JPEG" and image.size == (64, 64)
        assert _close(image.convert("RGB"), dataset[i]["image"])
    metadata = json.loads((tmp_path / "val" / "metadata.json").read_text())
    assert metadata["world_version"] == "shapes-v1"
    assert metadata["fingerprint"] == world.fingerprint("shapes/val", size=12)


def test_pairs_webdataset_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("cyclip.world.export.SHARD_SIZE", 4)
    export_task("shapes/pretrain", tmp_path, format="webdataset", limit=10)
    shards = sorted(tmp_path.glob("shard-*.tar"))
    assert [s.name for s in shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    captions = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, ext = member.name.split(".", 1)
                data = tar.extractfile(member).read()
                if ext == "txt":
                    captions[key] = data.decode()
                else:
                    assert ext == "jpg" and data[:2] == b"\xff\xd8"
    dataset = world.load_pairs("shapes/pretrain", size=10)
    assert [captions[k] for k in sorted(captions)] == [dataset[i]["caption"] for i in range(10)]


def test_retrieval_csv_has_a_row_per_caption(tmp_path: Path):
    export_task("builtin:shapes/retrieval", tmp_path, limit=4)
    with open(tmp_path / "captions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 5
    dataset = world.load_retrieval("shapes/retrieval", size=4)
    by_image: dict[str, list[str]] = {}
    for row in rows:
        by_image.setdefault(row["filepath"], []).append(row["title"])
    assert list(by_image.values()) == [dataset[i]["captions"] for i in range(4)]
    assert all((tmp_path / p).is_file() for p in by_image)


def test_classification_imagefolder_round_trip(tmp_path: Path):
    export_task("shapes/colour-shape/novel", tmp_path, limit=16)
    dataset, info = world.load_classification("shapes/colour-shape/novel", size=16)
    classes = json.loads((tmp_path / "classes.json").read_text())
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    # Every class has a folder (56 of them empty here), listed in ImageFolder's label order.
    assert classes["classnames"] == folders and sorted(info.classnames) == folders
    assert tuple(classes["templates"]) == info.templates
    assert classes["superclasses"] == [name.split(" ")[1] for name in folders]
    found = {int(path.stem): path.parent.name for path in tmp_path.glob("*/*.jpg")}
    assert found == {i: info.classnames[dataset[i]["label"]] for i in range(16)}


def test_imagefolder_export_reads_back_with_standard_readers(tmp_path: Path):
    from torchvision.datasets import ImageFolder

    from cyclip.data.imagefolder import open_image_folder

    export_task("shapes/colour-shape/test", tmp_path, limit=112)
    dataset, world_info = world.load_classification("shapes/colour-shape/test", size=112)
    torchvision_set = ImageFolder(str(tmp_path), allow_empty=True)
    assert len(torchvision_set.classes) == 64 and len(torchvision_set) == 112
    ours, info = open_image_folder(tmp_path)
    assert info.classnames == tuple(torchvision_set.classes)
    assert info.templates == world_info.templates
    for i in range(0, 112, 7):
        path, label = torchvision_set.samples[i]
        index = int(Path(path).stem)
        assert info.classnames[label] == world_info.classnames[dataset[index]["label"]]
        assert info.superclasses[label] == world_info.superclasses[dataset[index]["label"]]
        assert ours[i]["label"] == label


def test_classification_webdataset_labels(tmp_path: Path):
    export_task("shapes/shape/test", tmp_path, format="webdataset", limit=6)
    with tarfile.open(tmp_path / "shard-000000.tar") as tar:
        labels = {
            m.name.split(".")[0]: int(tar.extractfile(m).read())
            for m in tar.getmembers()
            if m.name.endswith(".cls")
        }
    dataset, _ = world.load_classification("shapes/shape/test", size=6)
    assert [labels[k] for k in sorted(labels)] == [dataset[i]["label"] for i in range(6)]
    assert json.loads((tmp_path / "classes.json").read_text())["superclasses"] is None


def test_export_refuses_bad_requests(tmp_path: Path):
    with pytest.raises(ValueError, match="use one of: imagefolder, webdataset"):
        export_task("shapes/shape/test", tmp_path / "a", format="csv")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        export_task("shapes/val", tmp_path / "full", limit=1)
    export_task("shapes/val", tmp_path / "full", limit=1, overwrite=True)
    with pytest.raises(ValueError, match="limit must be a positive"):
        export_task("shapes/val", tmp_path / "b", limit=0)
    with pytest.raises(ValueError, match="text-only task"):
        export_task("shapes/sts", tmp_path / "c")


def test_pair_and_retrieval_exports_read_back_with_cyclip_data(tmp_path: Path):
    from cyclip.data.resolve import open_pairs, open_retrieval

    export_task("shapes/val", tmp_path / "pairs", limit=5)
    pairs = open_pairs(str(tmp_path / "pairs" / "pairs.csv"))
    expected = world.load_pairs("shapes/val", size=5)
    assert [pairs[i]["caption"] for i in range(5)] == [expected[i]["caption"] for i in range(5)]

    retrieval_expected = world.load_retrieval("shapes/retrieval", size=3)
    export_task("shapes/retrieval", tmp_path / "csv", limit=3)
    export_task("shapes/retrieval", tmp_path / "wds", limit=3, format="webdataset")
    for source in (tmp_path / "csv" / "captions.csv", tmp_path / "wds" / "shard-000000.tar"):
        retrieval = open_retrieval(str(source))
        assert len(retrieval) == 3
        for i in range(3):
            assert retrieval[i]["captions"] == retrieval_expected[i]["captions"]
            assert _close(retrieval[i]["image"], retrieval_expected[i]["image"])
