"""COCO captions JSON: pairs per caption, retrieval per image, split choice, image folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_helpers import coloured_image

from cyclip.data import open_pairs, open_retrieval


def _coco(root: Path, split: str, n_images: int, *, images_beside: bool = False) -> Path:
    folder = root if images_beside else root / split
    folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(n_images):
        name = f"{split}_{i:03d}.jpg"
        coloured_image(i * 40).save(folder / name)
        images.append({"id": 100 + i, "file_name": name, "width": 16, "height": 16})
        for k in range(2 + i % 2):
            annotations.append(
                {"id": len(annotations), "image_id": 100 + i, "caption": f" {split} {i} cap {k}\n"}
            )
    # interleave annotation order to check that retrieval groups by image, keeping annotation order
    annotations.sort(key=lambda a: (a["caption"].split()[-1], a["image_id"]))
    (root / "annotations").mkdir(exist_ok=True)
    path = root / "annotations" / f"captions_{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def test_pairs_are_one_per_caption_from_the_train_split(tmp_path: Path) -> None:
    _coco(tmp_path, "train2017", 3)
    _coco(tmp_path, "val2017", 2)
    pairs = open_pairs(str(tmp_path))
    assert len(pairs) == 2 + 3 + 2  # images with 2, 3, 2 captions
    captions = [pairs[i]["caption"] for i in range(len(pairs))]
    assert all(c.startswith("train2017") for c in captions)
    assert captions[0] == "train2017 0 cap 0"  # whitespace cleaned


def test_retrieval_groups_captions_per_image_from_the_val_split(tmp_path: Path) -> None:
    _coco(tmp_path, "train2017", 3)
    _coco(tmp_path, "val2017", 2)
    ret = open_retrieval(str(tmp_path))
    assert len(ret) == 2
    assert ret[0]["captions"] == ["val2017 0 cap 0", "val2017 0 cap 1"]
    assert ret[1]["captions"] == ["val2017 1 cap 0", "val2017 1 cap 1", "val2017 1 cap 2"]


def test_a_json_file_picks_the_split_and_images_beside_are_found(tmp_path: Path) -> None:
    path = _coco(tmp_path, "val2017", 2, images_beside=True)
    pairs = open_pairs(str(path))
    assert len(pairs) == 5 and pairs[0]["image"].size == (16, 16)


def test_missing_image_folder_is_a_clear_error(tmp_path: Path) -> None:
    path = _coco(tmp_path, "val2017", 1)
    for f in (tmp_path / "val2017").iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match="cannot find its images"):
        open_retrieval(str(path))


def test_real_coco_mini(shared_data_dir: Path) -> None:
    root = shared_data_dir / "coco-mini"
    pairs = open_pairs(str(root))
    ret = open_retrieval(str(root))
    train = json.loads((root / "annotations" / "captions_train2017.json").read_text())
    val = json.loads((root / "annotations" / "captions_val2017.json").read_text())
    assert len(pairs) == len(train["annotations"])
    assert len(ret) == len(val["images"]) == 79
    item = ret[0]
    assert item["image"].mode == "RGB" and max(item["image"].size) == 320
    expected = [a["caption"] for a in val["annotations"] if a["image_id"] == val["images"][0]["id"]]
    assert item["captions"] == [" ".join(c.split()) for c in expected]
