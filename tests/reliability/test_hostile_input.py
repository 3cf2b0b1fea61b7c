"""Hostile input that used to hang, spin or leak a traceback (issue 21): named pipes among the
images or as the data source, runs that can never form a batch, and the like. Every case ends,
within a bounded time, with a counted skip or one line and exit code 2.
"""

from __future__ import annotations

import pytest

from cyclip.cli import train as cli
from cyclip.data import load_image
from cyclip.types import BadSampleError

from .conftest import (
    cyclip_cmd,
    error_lines,
    make_fifo,
    run,
    train_args,
    unblock_fifo,
    within,
    write_pairs,
    write_truncated_shard,
)


def test_a_fifo_is_refused_as_an_image_without_blocking(tmp_path):
    fifo = make_fifo(tmp_path / "pipe.png")
    try:
        with pytest.raises(BadSampleError, match="not a regular file"):
            within(10, load_image, fifo)
    finally:
        unblock_fifo(fifo)


def test_a_fifo_as_the_training_data_is_one_line_exit_2(tmp_path, capsys):
    fifo = make_fifo(tmp_path / "pairs.csv")
    try:
        code = within(60, cli.main, train_args(tmp_path, "f", data=str(fifo))[1:])
    finally:
        unblock_fifo(fifo)
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert "pairs.csv" in lines[0] and "not a regular file" in lines[0], lines


def test_a_fifo_among_the_images_is_skipped_and_counted(tmp_path, capsys):
    rows = write_pairs(tmp_path / "img", 16)
    fifo = make_fifo(tmp_path / "img" / "pipe.png")
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join([*rows, "img/pipe.png,x"]))
    args = train_args(tmp_path, "fifo", "--optim.max-steps", "2", data=str(tmp_path / "pairs.csv"))
    args += ["--data.train-num-samples", "17", "--data.max-skip-rate", "0.5"]
    try:
        code = within(120, cli.main, args[1:])
    finally:
        unblock_fifo(fifo)
    assert code == 0, capsys.readouterr().err[-2000:]


@pytest.mark.slow
def test_a_fifo_among_the_images_with_a_worker_does_not_hang_the_real_command(tmp_path):
    rows = write_pairs(tmp_path / "img", 16)
    fifo = make_fifo(tmp_path / "img" / "pipe.png")
    (tmp_path / "pairs.csv").write_text("filepath,caption\n" + "\n".join([*rows, "img/pipe.png,x"]))
    args = train_args(tmp_path, "fifo", "--optim.max-steps", "2", data=str(tmp_path / "pairs.csv"))
    args += ["--data.train-num-samples", "17", "--data.max-skip-rate", "0.5"]
    args += ["--data.workers", "1"]
    try:
        result = run(cyclip_cmd(args), 180)
    finally:
        unblock_fifo(fifo)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_a_run_where_every_sample_is_bad_stops_with_a_message(tmp_path, capsys):
    """``--data.max-skip-rate 1.0`` tolerates any skip rate, but no batch can ever be formed:
    the run stops (exit 1, one line) instead of spinning at step 0."""
    (tmp_path / "pairs.csv").write_text(
        "filepath,caption\n" + "\n".join(f"missing/{i}.png,a caption {i}" for i in range(16))
    )
    args = train_args(tmp_path, "allbad", data=str(tmp_path / "pairs.csv"))
    args += ["--data.train-num-samples", "16", "--data.max-skip-rate", "1.0"]
    code = within(120, cli.main, args[1:])
    lines = error_lines(capsys.readouterr().err)
    assert code == 1 and len(lines) == 1, lines
    assert "no batch" in lines[0] and "16 of 16" in lines[0] and "/missing/" in lines[0]


def _coco(root, names, captions=None, extra_images=()):
    import json

    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images = [{"id": i, "file_name": n} for i, n in enumerate(names)] + list(extra_images)
    captions = captions if captions is not None else [f"caption {i}" for i in range(len(names))]
    anns = [{"id": i, "image_id": i % len(names), "caption": c} for i, c in enumerate(captions)]
    path = root / "annotations" / "captions_train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


def test_the_coco_image_root_is_not_fooled_by_a_few_bad_first_names(tmp_path):
    """The first five ``file_name``s happen to exist in the COCO root (strays), the other 20
    are in ``ROOT/train``: the folder holding most images is chosen."""
    from cyclip.data.coco import read_coco

    write_pairs(tmp_path / "train", 20)
    stray = [f"stray{i}.png" for i in range(5)]
    for name in stray:
        (tmp_path / name).write_bytes((tmp_path / "train" / "0000.png").read_bytes())
    names = stray + [f"{i:04d}.png" for i in range(20)]
    index = read_coco(_coco(tmp_path, names))
    assert index.folder == tmp_path / "train"


@pytest.mark.parametrize("case", ["no-file-name", "truncated"])
def test_a_broken_coco_file_is_a_value_error_naming_the_file(tmp_path, case):
    from cyclip.data.coco import read_coco

    write_pairs(tmp_path / "train", 4)
    path = _coco(tmp_path, [f"{i:04d}.png" for i in range(4)], extra_images=[{"id": 9, "width": 3}])
    if case == "truncated":
        path.write_text(path.read_text()[:-40])
    with pytest.raises(ValueError, match="captions_train.json") as err:
        read_coco(path)
    if case == "no-file-name":
        assert "file_name" in str(err.value) and "9" in str(err.value)


def test_coco_captions_that_are_not_text_are_not_trained_on(tmp_path):
    """Numbers and nulls are not captions (not "12345" / "None"); NUL bytes separate words."""
    from cyclip.data.coco import CocoPairs, read_coco
    from cyclip.types import BadSampleError

    write_pairs(tmp_path / "train", 4)
    index = read_coco(
        _coco(tmp_path, [f"{i:04d}.png" for i in range(4)], [12345, None, "a\x00dog", "ok"])
    )
    pairs = CocoPairs(index)
    for i in (0, 1):
        with pytest.raises(BadSampleError, match="not text"):
            pairs[i]
    assert pairs[2]["caption"] == "a dog"
    assert index.captions[0] == () and index.captions[2] == ("a dog",)


def alias_bomb(depth: int) -> str:
    """A "billion laughs" YAML in a valid key: each level is nine aliases of the one before
    (9**depth strings once expanded; depth 9 is about the issue's 382-byte file)."""
    levels = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, depth):
        levels.append(f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "model:\n  name: [" + ", ".join(levels) + "]\n"


@pytest.mark.parametrize("depth", [6, 9])
def test_a_yaml_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path, depth):
    from cyclip.train.config_file import ConfigError, load_config

    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(depth))
    with pytest.raises(ConfigError) as err:
        within(20, load_config, path)
    message = str(err.value)
    assert len(message) < 400 and "\n" not in message, message[:400]
    assert "bomb.yaml" in message and "alias" in message


def test_a_recursive_yaml_alias_is_refused(tmp_path):
    from cyclip.train.config_file import ConfigError, load_config

    path = tmp_path / "loop.yaml"
    path.write_text("model: &m {name: *m}\n")
    with pytest.raises(ConfigError, match="alias"):
        within(20, load_config, path)


def test_a_huge_bad_value_is_shown_shortened(tmp_path):
    """A wrong-type value is named in the error, but never printed whole."""
    from cyclip.train.config_file import ConfigError, load_config

    path = tmp_path / "long.yaml"
    path.write_text("model:\n  name: [" + ", ".join(["x" * 50] * 2000) + "]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(str(err.value)) < 400 and "model.name" in str(err.value)


@pytest.mark.parametrize("template", ["a {d} of a {c}", "a {0} of a {c}", "a {c!z}", "a {c"])
def test_a_template_that_cannot_be_filled_is_refused_when_read(tmp_path, template):
    from cyclip.data.classnames import read_templates_file

    path = tmp_path / "templates.txt"
    path.write_text(f"a photo of a {{c}}.\n{template}\n")
    with pytest.raises(ValueError, match="templates.txt") as err:
        read_templates_file(path)
    assert template in str(err.value)


def test_a_seed_beyond_64_bits_is_one_line_exit_2(tmp_path, capsys):
    code = cli.main(train_args(tmp_path, "seed", "--run.seed", str(2**70))[1:])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and "--run.seed" in lines[0], lines


@pytest.mark.parametrize("size", [6000, 100000])
def test_an_image_size_the_model_cannot_afford_is_one_line_exit_2(tmp_path, capsys, size):
    args = train_args(tmp_path, "big", "--model.force-image-size", str(size))
    code = within(60, cli.main, args[1:])
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    assert "--model.force-image-size" in lines[0] and "at most" in lines[0], lines


def test_duplicate_yaml_keys_are_refused(tmp_path):
    from cyclip.train.config_file import ConfigError, load_config

    path = tmp_path / "dup.yaml"
    path.write_text("optim:\n  lr: 1.0e-3\n  lr: 5.0e-4\n")
    with pytest.raises(ConfigError, match=r"dup.yaml.*'lr'.*twice"):
        load_config(path)


def test_duplicate_csv_header_columns_are_refused(tmp_path):
    from cyclip.data.csv_source import read_csv_table

    rows = write_pairs(tmp_path / "img", 2)
    path = tmp_path / "pairs.csv"
    path.write_text("filepath,caption,caption\n" + "\n".join(f"{r},other" for r in rows))
    with pytest.raises(ValueError, match=r"pairs.csv.*'caption'.*more than once"):
        read_csv_table(path)


@pytest.mark.parametrize("case", ["empty", "not-a-run"])
def test_report_on_a_folder_that_is_not_a_run_is_exit_2(tmp_path, capsys, case):
    from cyclip.cli import report

    folder = tmp_path / "folder"
    folder.mkdir()
    if case == "not-a-run":
        (folder / "notes.txt").write_text("hello")
    assert report.main([str(folder), "--out", str(tmp_path / "rep.html")]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "not a run directory" in lines[0], lines


def test_a_single_class_image_folder_is_warned_about(tmp_path, caplog):
    from cyclip.data.imagefolder import scan_image_folder

    write_pairs(tmp_path / "only", 3)
    with caplog.at_level("WARNING"):
        scan_image_folder(tmp_path)
    assert any("one class" in r.getMessage() for r in caplog.records), caplog.text


def test_a_truncated_tar_member_is_counted_once(tmp_path):
    """Three samples, the shard cut in the middle of the second image: one good sample and one
    skip (webdataset reports the same read error twice)."""
    from cyclip.data import SkippedItem, open_pairs

    write_truncated_shard(tmp_path, 3, cut_member=2)
    items = list(open_pairs(str(tmp_path / "t.tar")))
    bad = [x for x in items if isinstance(x, SkippedItem)]
    assert len(items) - len(bad) == 1 and len(bad) == 1, bad
