"""Class names that must never silently fall back to folder ids (issue 20, items 1 and 2)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from data_helpers import coloured_image

from cyclip.data import open_classification

# three real ImageNet-1k WordNet ids: the first, the second and the last in sorted order
WNIDS = {"n01440764": "tench", "n01443537": "goldfish", "n15075141": "toilet paper"}


def _folder(root: Path, names: list[str]) -> Path:
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        coloured_image(i).save(root / name / "0.png")
    return root


def test_the_shipped_imagenet_names_are_keyed_by_sorted_wordnet_id() -> None:
    from cyclip.data.classnames import imagenet_classnames

    names = imagenet_classnames()
    assert len(names) == 1000 and list(names) == sorted(names)
    for wnid, name in WNIDS.items():
        assert names[wnid] == name
    assert names["n02123045"] == "tabby cat" and names["n04254680"] == "soccer ball"


def test_wordnet_id_folders_get_imagenet_names_and_say_so(tmp_path: Path, caplog) -> None:
    _folder(tmp_path, list(WNIDS))
    with caplog.at_level(logging.INFO, logger="cyclip"):
        _, info = open_classification(str(tmp_path))
    assert info.classnames == ("tench", "goldfish", "toilet paper")
    notes = [r.getMessage() for r in caplog.records if "ImageNet-1k class names" in r.getMessage()]
    assert len(notes) == 1 and "3 WordNet-id folders" in notes[0]


@pytest.mark.parametrize(
    "folders", [["n01", "n02", "n03"], ["0001", "0002"], ["class_1", "class_2"], ["n99999999"]]
)
def test_id_like_folders_without_names_warn_loudly(tmp_path: Path, caplog, folders) -> None:
    _folder(tmp_path, folders)
    _, info = open_classification(str(tmp_path))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(
        "look like ids" in r.getMessage() and "--classnames" in r.getMessage() for r in warnings
    )


def test_ordinary_folder_names_do_not_warn(tmp_path: Path, caplog) -> None:
    _folder(tmp_path, ["cat", "sea_lion", "T-shirt", "4x4 truck"])
    _, info = open_classification(str(tmp_path))
    assert info.classnames == ("4x4 truck", "T-shirt", "cat", "sea lion")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


MAPPING = {"n02": "dog", "n01": "cat", "n03": "hot dog"}  # not in folder order, on purpose


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("names.json", json.dumps(MAPPING)),
        ("names.json", json.dumps({"classes": MAPPING, "templates": ["a {c}."]})),
        ("names.yaml", "n02: dog\nn01: cat\nn03: hot dog\n"),
        ("names.csv", "wnid,name\nn02,dog\nn01,cat\nn03,hot dog\n"),
        ("names.csv", "n02,dog\nn01,cat\nn03,hot dog\n"),
        ("names.tsv", "folder\tclass\nn02\tdog\nn01\tcat\nn03\thot dog\n"),
        ("names.txt", "n02 dog\nn01 cat\nn03 hot dog\n"),
    ],
)
def test_a_mapping_from_folder_name_to_class_name_in_every_format(
    tmp_path: Path, name: str, content: str
) -> None:
    root = _folder(tmp_path / "data", ["n01", "n02", "n03"])
    (tmp_path / name).write_text(content)
    _, info = open_classification(str(root), classnames=str(tmp_path / name))
    assert info.classnames == ("cat", "dog", "hot dog")


def test_a_classnames_json_in_the_data_folder_is_picked_up(tmp_path: Path) -> None:
    _folder(tmp_path, list(WNIDS))
    (tmp_path / "classnames.json").write_text(
        json.dumps({"n15075141": "bog roll", "n01443537": "goldie", "n01440764": "tinca"})
    )
    _, info = open_classification(str(tmp_path))
    assert info.classnames == ("tinca", "goldie", "bog roll")


def test_a_mapping_missing_some_folders_is_refused(tmp_path: Path) -> None:
    _folder(tmp_path / "data", ["n01", "n02", "n03"])
    (tmp_path / "m.json").write_text(json.dumps({"n01": "cat", "n02": "dog"}))
    with pytest.raises(ValueError, match=r"names 2 of the 3 classes; no name for 'n03'"):
        open_classification(str(tmp_path / "data"), classnames=str(tmp_path / "m.json"))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("m.json", json.dumps({"x01": "cat", "x02": "dog", "x03": "bird"})),  # keys match nothing
        ("m.json", json.dumps({"colour": 3})),  # nothing usable at all
        ("m.json", "[]"),
        ("m.csv", "wnid,name\n"),
        ("m.txt", "\n\n"),
    ],
)
def test_a_file_with_no_usable_names_is_refused(tmp_path: Path, name: str, content: str) -> None:
    _folder(tmp_path / "data", ["n01", "n02", "n03"])
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match="no usable class names") as err:
        open_classification(str(tmp_path / "data"), classnames=str(tmp_path / name))
    assert "\n" not in str(err.value)


def test_eval_cli_refuses_an_unusable_class_names_file_in_one_line(tmp_path: Path, capsys) -> None:
    from cyclip.cli.eval import main

    _folder(tmp_path / "data", ["cat", "dog"])
    (tmp_path / "m.json").write_text(json.dumps({"colour": 3}))
    argv = ["--model", "cyclip-tiny", "--task", "zeroshot", "--data", str(tmp_path / "data")]
    assert main([*argv, "--classnames", str(tmp_path / "m.json"), "--no-cache"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no usable class names" in err[0]
