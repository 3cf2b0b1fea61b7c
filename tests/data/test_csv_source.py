"""CSV/TSV pairs and retrieval: both official layouts, quoting, bad rows, missing columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import coloured_image

from cyclip.data import BadSampleError, open_pairs, open_retrieval
from cyclip.data.csv_source import read_csv_table


def _images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        coloured_image(i).save(folder / f"{i}.png")


def test_cyclip_layout_comma_with_quotes_and_relative_paths(tmp_path: Path) -> None:
    _images(tmp_path / "imgs", 3)
    (tmp_path / "train.csv").write_text(
        'image,caption\nimgs/0.png,"a dog, running"\nimgs/1.png,"she said ""hi"""\nimgs/2.png,"two\nlines"\n',
        encoding="utf-8",
    )
    ds = open_pairs(str(tmp_path / "train.csv"))
    assert len(ds) == 3
    assert [ds[i]["caption"] for i in range(3)] == ["a dog, running", 'she said "hi"', "two lines"]
    assert ds[1]["image"].getpixel((0, 0)) == (1, 0, 128)


def test_open_clip_layout_tab_in_a_csv_named_file(tmp_path: Path) -> None:
    _images(tmp_path / "sub", 2)
    (tmp_path / "data.csv").write_text("filepath\ttitle\nsub/0.png\ta red, square\nsub/1.png\tb\n")
    ds = open_pairs(str(tmp_path / "data.csv"))
    assert [ds[i]["caption"] for i in range(2)] == ["a red, square", "b"]


def test_tsv_extension_and_explicit_keys_and_absolute_paths(tmp_path: Path) -> None:
    _images(tmp_path / "x", 1)
    absolute = tmp_path / "x" / "0.png"
    (tmp_path / "d.tsv").write_text(f"id\tpic\ttext\n7\t{absolute}\thello\n")
    ds = open_pairs(str(tmp_path / "d.tsv"), img_key="pic", caption_key="text")
    assert ds[0]["caption"] == "hello" and ds[0]["image"].size == (16, 16)


def test_missing_column_names_it_and_the_columns_present(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("path,caption\na.png,x\n")
    with pytest.raises(ValueError) as info:
        open_pairs(str(tmp_path / "d.csv"), img_key="image")
    message = str(info.value)
    assert (
        "'image'" in message
        and "['path', 'caption']" in message
        and "--data.csv-img-key" in message
    )
    (tmp_path / "e.csv").write_text("file_name,words\na.png,x\n")
    with pytest.raises(ValueError, match=r"caption column.*\['file_name', 'words'\]"):
        open_pairs(str(tmp_path / "e.csv"), img_key="file_name")


def test_stray_delimiter_in_last_column_is_rejoined_elsewhere_bad(tmp_path: Path) -> None:
    _images(tmp_path, 2)
    (tmp_path / "a.csv").write_text("image,caption\n0.png,a dog, running, fast\n")
    assert open_pairs(str(tmp_path / "a.csv"))[0]["caption"] == "a dog, running, fast"
    (tmp_path / "b.csv").write_text("caption,image\na dog, running,0.png\nok,1.png\nonlyonefield\n")
    ds = open_pairs(str(tmp_path / "b.csv"))
    assert len(ds) == 3
    with pytest.raises(BadSampleError, match="3 fields"):
        ds[0]
    assert ds[1]["caption"] == "ok"
    with pytest.raises(BadSampleError, match="1 fields") as info:
        ds[2]
    assert info.value.key.endswith("b.csv:4")


def test_non_utf8_caption_is_a_counted_bad_row_not_mojibake(tmp_path: Path) -> None:
    _images(tmp_path, 2)
    (tmp_path / "d.csv").write_bytes(b"image,caption\n0.png,caf\xe9 au lait\n1.png,fine\n")
    table = read_csv_table(tmp_path / "d.csv")
    assert table.bad_rows == {0: "caption is not valid UTF-8 (line 2)"}
    ds = open_pairs(str(tmp_path / "d.csv"))
    with pytest.raises(BadSampleError, match="UTF-8"):
        ds[0]
    assert ds[1]["caption"] == "fine"


def test_empty_caption_and_missing_image_are_bad_items(tmp_path: Path) -> None:
    _images(tmp_path, 1)
    (tmp_path / "d.csv").write_text("image,caption\n0.png,   \nmissing.png,a cat\n0.png,ok\n")
    ds = open_pairs(str(tmp_path / "d.csv"))
    with pytest.raises(BadSampleError, match="empty caption"):
        ds[0]
    with pytest.raises(BadSampleError, match="not found"):
        ds[1]
    assert ds[2]["caption"] == "ok"


def test_bom_blank_lines_and_a_huge_caption(tmp_path: Path) -> None:
    _images(tmp_path, 1)
    long = "word " * 2000 + "end"
    (tmp_path / "d.csv").write_text(f'\ufeffimage,caption\n\n0.png,"{long}"\n\n', encoding="utf-8")
    ds = open_pairs(str(tmp_path / "d.csv"))
    assert len(ds) == 1 and ds[0]["caption"].endswith("word end") and len(ds[0]["caption"]) > 10_000


def test_retrieval_groups_rows_by_image_in_order(tmp_path: Path) -> None:
    _images(tmp_path, 2)
    (tmp_path / "r.csv").write_text(
        "image,caption\n1.png,b1\n0.png,a1\n1.png,b2\n1.png,  \n0.png,a2\n"
    )
    ds = open_retrieval(str(tmp_path / "r.csv"))
    assert len(ds) == 2
    assert ds[0]["captions"] == ["b1", "b2"] and ds[1]["captions"] == ["a1", "a2"]
    assert ds[0]["image"].getpixel((0, 0)) == (1, 0, 128)


def test_separator_override(tmp_path: Path) -> None:
    _images(tmp_path, 1)
    (tmp_path / "d.csv").write_text("image;caption\n0.png;x, y\n")
    assert open_pairs(str(tmp_path / "d.csv"), separator=";")[0]["caption"] == "x, y"


def test_separator_names_for_the_command_line(tmp_path: Path) -> None:
    _images(tmp_path, 1)
    (tmp_path / "d.txt").write_text("image\tcaption\n0.png\ta, b\n")
    ds = open_pairs(str(tmp_path / "d.txt"), separator="tab", dataset_type="csv")
    assert ds[0]["caption"] == "a, b"
    with pytest.raises(ValueError, match="one character"):
        open_pairs(str(tmp_path / "d.txt"), separator="::", dataset_type="csv")
