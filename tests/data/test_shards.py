"""webdataset shards: brace lists, bad samples skipped and counted, truncated tars, wrong keys."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from data_helpers import add_member, coloured_image, png_bytes

from cyclip.data import SkippedItem, open_pairs, open_retrieval
from cyclip.data.shard_index import count_shard_samples
from cyclip.data.shards import expand_shards


def _items(dataset) -> tuple[list[str], list[SkippedItem]]:
    good, bad = [], []
    for item in dataset:
        (bad if isinstance(item, SkippedItem) else good).append(item)
    return [g["caption"] for g in good], bad


def test_brace_and_double_colon_shard_lists(make_shards) -> None:
    paths = make_shards(3, 4)
    folder = paths[0].parent
    spec = f"{folder}/{{00000..00001}}.tar::{folder}/00002.tar"
    assert expand_shards(spec) == [str(p) for p in paths]
    captions, bad = _items(open_pairs(spec))
    assert captions == [f"item {i}" for i in range(12)] and not bad


def test_missing_shard_is_named(make_shards) -> None:
    folder = make_shards(1, 2)[0].parent
    with pytest.raises(FileNotFoundError, match=r"1 of 2 shards .* not found: .*00001.tar"):
        open_pairs(f"{folder}/{{00000..00001}}.tar")


def test_sample_missing_its_text_is_skipped_and_counted(make_shards) -> None:
    paths = make_shards(1, 5, drop_txt={2})
    captions, bad = _items(open_pairs(str(paths[0])))
    assert captions == ["item 0", "item 1", "item 3", "item 4"]
    assert len(bad) == 1 and bad[0].key.endswith(":000002") and "no caption member" in bad[0].reason


def test_truncated_tar_member_does_not_crash(make_shards, tmp_path: Path) -> None:
    path = make_shards(1, 6)[0]
    data = path.read_bytes()
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    cut_in = members[7]  # 000003.txt is members[7]; cut in the middle of 000004.png (members[8])
    cut = members[8].offset_data + members[8].size // 2
    assert cut > cut_in.offset_data
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[:cut])
    captions, bad = _items(open_pairs(str(truncated)))
    assert captions == [f"item {i}" for i in range(4)]
    # the tar errors are recorded as skipped entries naming the shard
    assert bad and all(
        b.key == str(truncated) and "unexpected end of data" in b.reason for b in bad
    )


def test_corrupt_image_and_empty_caption_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.tar"
    with tarfile.open(path, "w") as tar:
        add_member(tar, "a.jpg", b"\xff\xd8\xff garbage")
        add_member(tar, "a.txt", b"broken image")
        add_member(tar, "b.png", png_bytes(coloured_image(1)))
        add_member(tar, "b.txt", b"   ")
        add_member(tar, "c.png", png_bytes(coloured_image(2)))
        add_member(tar, "c.txt", b"fine")
    captions, bad = _items(open_pairs(str(path)))
    assert captions == ["fine"]
    assert [b.key.rsplit(":", 1)[-1] for b in bad] == ["a", "b"]


def test_wrong_keys_give_a_clear_error_naming_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "s.tar"
    with tarfile.open(path, "w") as tar:
        for i in range(3):
            add_member(tar, f"{i}.jpeg2", b"x")
            add_member(tar, f"{i}.caption", b"y")
    with pytest.raises(ValueError, match=r"\.caption.*\.jpeg2|\.jpeg2.*\.caption"):
        open_pairs(str(path))
    ds = open_pairs(str(path), img_key="jpeg2", caption_key="caption")  # now it is found
    _, bad = _items(ds)
    assert len(bad) == 3 and "not a readable image" in bad[0].reason


def test_stream_check_raises_instead_of_spinning(tmp_path: Path) -> None:
    from cyclip.data.shards import WebDatasetPairs

    path = tmp_path / "s.tar"
    with tarfile.open(path, "w") as tar:
        add_member(tar, "0.json", b"{}")
    with pytest.raises(ValueError, match=r"none of 1 samples.*\.json \(1\)"):
        list(WebDatasetPairs([str(path)]))


def test_retrieval_from_txt_lines_and_json_captions(tmp_path: Path) -> None:
    path = tmp_path / "r.tar"
    with tarfile.open(path, "w") as tar:
        add_member(tar, "a.png", png_bytes(coloured_image(5)))
        add_member(tar, "a.txt", b"first\n\nsecond \n")
        add_member(tar, "b.jpg", png_bytes(coloured_image(6)))  # content sniffed, name irrelevant
        add_member(tar, "b.json", json.dumps({"captions": ["x", "y", "z"]}).encode())
        add_member(tar, "c.png", png_bytes(coloured_image(7)))  # no caption: left out
    ds = open_retrieval(str(path))
    assert len(ds) == 2
    assert ds[0]["captions"] == ["first", "second"] and ds[0]["image"].getpixel((0, 0)) == (
        5,
        0,
        128,
    )
    assert ds[1]["captions"] == ["x", "y", "z"] and ds[1]["image"].getpixel((0, 0)) == (6, 0, 128)


def test_counting_samples_from_sizes_json_stats_or_scan(make_shards) -> None:
    paths = make_shards(2, 3, drop_txt={1})
    urls = [str(p) for p in paths]
    assert count_shard_samples(urls) == 6  # scan counts keys
    (paths[0].parent / "00000_stats.json").write_text(json.dumps({"successes": 10}))
    assert count_shard_samples(urls) == 13
    (paths[0].parent / "sizes.json").write_text(json.dumps({"00000.tar": 100, "00001.tar": 1}))
    assert count_shard_samples(urls) == 101
