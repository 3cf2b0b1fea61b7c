"""Classification sources: ImageFolder, labels.csv + class file, CIFAR pickles (restricted), builtin."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from data_helpers import coloured_image

from cyclip.data import BadSampleError, open_classification, openai_imagenet_templates
from cyclip.data.cifar import UnsafePickleError, load_pickle


def _folder(root: Path, classes: dict[str, int]) -> None:
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            coloured_image(i).save(root / name / f"{i}.png")


def test_image_folder_names_order_and_default_templates(tmp_path: Path) -> None:
    _folder(tmp_path, {"sea_lion": 2, "ant": 1, "zebra": 3})
    (tmp_path / "zebra" / "notes.txt").write_text("not an image")
    ds, info = open_classification(str(tmp_path))
    assert info.classnames == ("ant", "sea lion", "zebra")
    assert info.templates == openai_imagenet_templates() and len(info.templates) == 80
    assert info.superclasses is None
    assert [ds[i]["label"] for i in range(len(ds))] == [0, 1, 1, 2, 2, 2]


def test_image_folder_keeps_an_empty_class_with_a_warning(tmp_path: Path, caplog) -> None:
    _folder(tmp_path, {"a": 1, "b": 0, "c": 1})
    ds, info = open_classification(str(tmp_path))
    assert info.classnames == ("a", "b", "c")
    assert [ds[i]["label"] for i in range(len(ds))] == [0, 2]
    assert "no images" in caplog.text


def test_image_folder_classes_json_and_caller_overrides(tmp_path: Path) -> None:
    _folder(tmp_path, {"n01": 1, "n02": 1})
    (tmp_path / "classes.json").write_text(
        json.dumps(
            {
                "classes": ["cat", "dog"],
                "templates": ["a {c}."],
                "superclasses": {"pet": ["cat", "dog"]},
            }
        )
    )
    _, info = open_classification(str(tmp_path))
    assert info.classnames == ("cat", "dog") and info.templates == ("a {c}.",)
    assert info.superclasses == ("pet", "pet")
    (tmp_path / "t.yaml").write_text("templates:\n  - 'photo of {c}'\n")
    (tmp_path / "s.json").write_text(json.dumps(["feline", "canine"]))
    _, info = open_classification(
        str(tmp_path), templates=str(tmp_path / "t.yaml"), superclasses=str(tmp_path / "s.json")
    )
    assert info.templates == ("photo of {c}",) and info.superclasses == ("feline", "canine")


def test_wrong_number_of_class_names_is_refused(tmp_path: Path) -> None:
    _folder(tmp_path, {"a": 1, "b": 1})
    (tmp_path / "names.json").write_text(json.dumps(["only one"]))
    with pytest.raises(ValueError, match="1 class names, but the data has 2 classes"):
        open_classification(str(tmp_path), classnames=str(tmp_path / "names.json"))


def _labels_dir(root: Path, labels: list[int]) -> None:
    (root / "images").mkdir(parents=True)
    rows = ["image,label"]
    for i, label in enumerate(labels):
        coloured_image(i).save(root / "images" / f"{i}.png")
        rows.append(f"images/{i}.png,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("classes.json", json.dumps(["cat", "dog", "bird"])),
        ("classes.yaml", "classes: [cat, dog, bird]\n"),
        ("classes.csv", "class\ncat\ndog\nbird\n"),
        (
            "classes.py",
            'classes = ["cat", "dog", "bird"]\ntemplates = [lambda s: f"a photo of a {s}."]\n',
        ),
    ],
)
def test_labels_csv_with_each_class_file_format(tmp_path: Path, name: str, content: str) -> None:
    _labels_dir(tmp_path, [2, 0, 1])
    (tmp_path / name).write_text(content)
    ds, info = open_classification(str(tmp_path))
    assert info.classnames == ("cat", "dog", "bird")
    assert [ds[i]["label"] for i in range(3)] == [2, 0, 1]
    if name == "classes.py":
        assert info.templates == ("a photo of a {c}.",)


def test_classes_py_is_parsed_never_executed(tmp_path: Path) -> None:
    _labels_dir(tmp_path, [0])
    marker = tmp_path / "pwned"
    (tmp_path / "classes.py").write_text(
        f"import os\nos.system('touch {marker}')\nclasses = [os.getcwd()]\n"
    )
    with pytest.raises(ValueError, match="not a literal"):
        open_classification(str(tmp_path))
    assert not marker.exists()


def test_labels_csv_errors(tmp_path: Path) -> None:
    _labels_dir(tmp_path, [0, 5])
    with pytest.raises(ValueError, match="class-names file"):
        open_classification(str(tmp_path))
    (tmp_path / "classes.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(ValueError, match=r"labels.csv:3: label 5 outside 0..1"):
        open_classification(str(tmp_path))


def _cifar10(root: Path, n: int = 6) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [i % 3 for i in range(n)],
        b"data": data,
    }
    meta = {b"label_names": [b"airplane", b"automobile", b"bird"], b"num_vis": 3072}
    # protocol 2 with byte-string keys, as the Python 2 originals; numpy arrays need _reconstruct
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def test_cifar10_pickle_round_trip(tmp_path: Path) -> None:
    folder = _cifar10(tmp_path)
    raw = load_pickle(folder / "test_batch")["data"]
    for source in (tmp_path, folder, folder / "test_batch"):
        ds, info = open_classification(str(source))
        assert info.classnames == ("airplane", "automobile", "bird") and len(ds) == 6
        item = ds[4]
        assert item["label"] == 1 and item["image"].size == (32, 32)
        # rows are channel-major: R plane, G plane, B plane
        pixel = np.asarray(item["image"])[0, 1]
        assert pixel.tolist() == [raw[4][1], raw[4][1024 + 1], raw[4][2048 + 1]]


def test_cifar10_train_split_concatenates_the_five_batches(tmp_path: Path) -> None:
    folder = _cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="data_batch_1, data_batch_2"):
        open_classification(str(folder), split="train")
    for i in range(1, 6):
        batch = {b"labels": [i % 3, (i + 1) % 3], b"data": np.full((2, 3072), i, np.uint8)}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    ds, _ = open_classification(str(folder), split="train")
    assert len(ds) == 10 and ds[9]["label"] == 0 and np.asarray(ds[9]["image"]).max() == 5
    with pytest.raises(ValueError, match="split= applies to CIFAR sources only"):
        open_classification("builtin:shapes/shape/test", split="train")


def test_cifar100_gets_superclasses_from_coarse_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine = [0, 1, 2, 3, 1]
    coarse = [1, 0, 1, 0, 0]
    batch = {b"fine_labels": fine, b"coarse_labels": coarse, b"data": np.zeros((5, 3072), np.uint8)}
    meta = {
        b"fine_label_names": [b"apple", b"aquarium_fish", b"pear", b"shark"],
        b"coarse_label_names": [b"fish", b"fruit_and_vegetables"],
    }
    (folder / "test").write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    ds, info = open_classification(str(tmp_path))
    assert info.classnames == ("apple", "aquarium fish", "pear", "shark")
    assert info.superclasses == ("fruit and vegetables", "fish", "fruit and vegetables", "fish")
    assert [ds[i]["label"] for i in range(5)] == fine


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_cifar_pickle_is_refused(tmp_path: Path) -> None:
    folder = _cifar10(tmp_path)
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Exploit(str(marker))}, protocol=2))
    with pytest.raises(
        UnsafePickleError, match=r"refusing to load posix.system|refusing to load os.system"
    ):
        open_classification(str(folder))
    assert not marker.exists()


def test_real_cifar10_mini_image_folder(shared_data_dir: Path) -> None:
    ds, info = open_classification(str(shared_data_dir / "cifar10-test-mini"))
    assert len(ds) == 1000 and len(info.classnames) == 10 and "airplane" in info.classnames
    labels = np.array([ds.labels[i] for i in range(len(ds))])
    assert np.bincount(labels).tolist() == [100] * 10
    assert ds[999]["image"].size == (32, 32) and ds[999]["label"] == info.classnames.index("truck")


def test_builtin_classification(tmp_path: Path) -> None:
    ds, info = open_classification("builtin:shapes/colour-shape/test?size=20")
    assert len(ds) == 20 and info.superclasses is not None
    assert ds[0]["label"] < len(info.classnames)
    (tmp_path / "t.json").write_text(json.dumps(["a drawing of a {c}"]))
    _, info2 = open_classification(
        "builtin:shapes/colour-shape/test", templates=str(tmp_path / "t.json")
    )
    assert info2.templates == ("a drawing of a {c}",) and info2.classnames == info.classnames


def test_bad_image_in_a_class_folder_is_a_bad_sample(tmp_path: Path) -> None:
    _folder(tmp_path, {"a": 1})
    (tmp_path / "a" / "broken.jpg").write_bytes(b"")
    ds, _ = open_classification(str(tmp_path))
    with pytest.raises(BadSampleError):
        ds[1]
