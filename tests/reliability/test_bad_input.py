"""Bad input through the real entry points: a training CSV mixing good, odd and broken files runs
and counts what it skipped; invalid flags, files and names end with exit code 2 and one line.

The per-file unit tests are in ``tests/data/test_images.py`` (each broken file kind and image
mode), ``tests/data/test_csv_source.py`` (non-UTF-8 bytes, stray delimiters, missing columns,
huge captions), ``tests/data/test_shards.py`` (missing ``txt``, truncated member) and
``tests/data/test_classification_sources.py`` (empty class folder); the in-process CLI checks
of many flags in ``tests/train/test_cli.py``.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclip.cli import train as cli
from cyclip.data import DataConfig, build_train_loader
from cyclip.models import create_model

from .conftest import cyclip_cmd, error_lines, run, train_args, write_pairs


def png_claiming(width: int, height: int) -> bytes:
    """A 60-byte PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb as
    PIL sees it, without the cost of making one)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def odd_but_valid_images(folder: Path) -> list[str]:
    """Images in every awkward mode the loader must convert, one caption an extreme."""
    gray = np.linspace(0, 60000, 400, dtype=np.uint16).reshape(20, 20)
    images = {
        "gray.png": Image.new("L", (20, 20), 90),
        "cmyk.jpg": Image.new("CMYK", (20, 20), (10, 200, 30, 0)),
        "gray16.png": Image.fromarray(gray),
        "palette.png": Image.new("RGB", (20, 20), (200, 10, 10)).convert("P"),
        "alpha.png": Image.new("RGBA", (20, 20), (0, 0, 255, 60)),
    }
    rows = []
    for name, img in images.items():
        img.save(folder / name)
        rows.append(f"{folder.name}/{name},an odd image {name}")
    rows.append(f"{folder.name}/gray.png,{'very long caption ' * 560}")  # ~10,000 characters
    rows.append(f"{folder.name}/alpha.png,a caption, with stray commas, in it")
    return rows


def broken_rows(folder: Path) -> list[bytes]:
    """Rows that must be skipped and counted: 10 of them."""
    good_jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 90, 9)).save(good_jpeg, format="JPEG")
    (folder / "truncated.jpg").write_bytes(good_jpeg.getvalue()[:300])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is a caption, not a picture\n")
    (folder / "bomb.png").write_bytes(png_claiming(20_000, 20_000))
    (folder / "a_directory.png").mkdir()
    f = folder.name
    return [
        f"{f}/truncated.jpg,a truncated jpeg".encode(),
        f"{f}/empty.jpg,a zero-byte file".encode(),
        f"{f}/text.jpg,a text file named jpg".encode(),
        f"{f}/bomb.png,twenty thousand squared".encode(),
        f"{f}/a_directory.png,a folder named like an image".encode(),
        f"{f}/missing.png,a file that does not exist".encode(),
        f"{f}/0000.png,".encode(),  # empty caption
        f"{f}/0001.png,   \t ".encode(),  # whitespace caption
        f"{f}/0002.png,caf\xe9 au lait".encode("latin-1"),  # not UTF-8
        f"{f}/0003.png".encode(),  # one field only
    ]


N_BROKEN = 10


def test_training_on_a_csv_of_good_odd_and_broken_files_skips_and_counts(tmp_path):
    """56 rows (39 plain images, 7 odd but valid, 10 broken) in one epoch of 7 batches with two
    DataLoader workers: ``cyclip train`` exits 0 without a traceback, every step's loss is
    finite, and metrics.jsonl counts exactly the 10 broken rows and 46 samples."""
    images = tmp_path / "imgs"
    rows = [r.encode() for r in write_pairs(images, 39)]
    rows += [r.encode() for r in odd_but_valid_images(images)]
    rows += broken_rows(images)
    assert len(rows) == 56
    csv = tmp_path / "mixed.csv"
    csv.write_bytes(b"image,caption\n" + b"\n".join(rows) + b"\n")

    args = [
        "train", "--model.name", "cyclip-tiny", "--data.train-data", str(csv),
        "--data.batch-size", "8", "--data.workers", "2", "--data.val-data", "None",
        "--data.max-skip-rate", "0.5", "--optim.epochs", "1", "--optim.warmup-steps", "2",
        "--run.output-dir", str(tmp_path), "--run.name", "mixed", "--run.log-every", "1",
        "--run.no-tensorboard", "--run.no-progress",
    ]  # fmt: skip
    proc = run(cyclip_cmd(args), 300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    lines = (tmp_path / "mixed" / "metrics.jsonl").read_text().splitlines()
    steps = [m for m in map(json.loads, lines) if "loss" in m]
    assert all(np.isfinite(m["loss"]) for m in steps)
    assert steps[-1]["epoch_skipped"] == N_BROKEN
    assert steps[-1]["samples"] == 56 - N_BROKEN


def test_shards_with_missing_text_truncated_member_and_escaping_names_train(tmp_path):
    """A webdataset shard with a sample missing its caption, members named ``../x`` and
    ``/abs/x``, and a second shard cut off mid-member: the loader yields the readable samples,
    counts the rest, and nothing is written outside the shards' folder."""
    folder = tmp_path / "shards"
    folder.mkdir()
    with tarfile.open(folder / "000.tar", "w") as tar:
        for i in range(12):
            png = io.BytesIO()
            Image.new("RGB", (20, 20), (i * 20, 0, 0)).save(png, format="PNG")
            _add(tar, f"{i:04d}.png", png.getvalue())
            if i != 3:
                _add(tar, f"{i:04d}.txt", f"a red square {i}".encode())
        _add(tar, "../escaped.png", b"not really")
        _add(tar, "../escaped.txt", b"caption outside")
        _add(tar, "/tmp/absolute_member.txt", b"caption absolute")
    whole = (folder / "000.tar").read_bytes()
    (folder / "001.tar").write_bytes(whole[: len(whole) // 2])  # truncated mid-member

    bundle = create_model("cyclip-tiny")
    cfg = DataConfig(
        train_data=str(folder / "{000..001}.tar"), batch_size=4, workers=0, val_data=None
    )
    loader = build_train_loader(cfg, bundle.preprocess_train, bundle.tokenizer, seed=0)
    loader.set_epoch(0)
    batches = list(loader)
    assert all(int(b["images"].shape[0]) == 4 for b in batches) and len(batches) >= 4
    reasons = [str(e) for b in batches for e in b.get("skipped_examples", ())]
    assert sum(int(b.get("n_skipped", 0)) for b in batches) == len(reasons)
    assert any("000.tar:0003: no caption member" in r for r in reasons)
    assert any("000.tar:../escaped: not a readable image" in r for r in reasons)
    assert any("000.tar:/tmp/absolute_member: no image member" in r for r in reasons)
    assert [p.name for p in tmp_path.iterdir()] == ["shards"]  # nothing beside the shards
    assert not list(tmp_path.parent.glob("escaped*"))
    assert not Path("/tmp/absolute_member.txt").exists()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--model.name", "ViT-B-322"], "unknown model 'ViT-B-322' (closest: ViT-B-32"),
        pytest.param(
            ["eval", "--checkpoint", "/nonexistent/c.pt", "--suite", "builtin"],
            "/nonexistent/c.pt",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_cli_subprocess_rejects_bad_values_with_exit_2_and_one_line(argv, expected):
    """Through a real process (import-time warnings and all): exit 2, one stderr line, no
    traceback. Many more values are checked in-process in tests/train/test_cli.py."""
    proc = run(cyclip_cmd(argv), 120)
    lines = error_lines(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert expected in lines[0]


def _one_line_error(argv: list[str], capsys) -> str:
    code = cli.main(argv)
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


def test_csv_missing_the_named_column_is_one_line_naming_the_columns(tmp_path, capsys):
    write_pairs(tmp_path / "imgs", 2)
    (tmp_path / "p.csv").write_text("image,caption\nimgs/0000.png,a\nimgs/0001.png,b\n")
    line = _one_line_error(
        ["--data.train-data", str(tmp_path / "p.csv"), "--data.csv-caption-key", "text",
         "--run.output-dir", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert "no caption column" in line and "'text'" in line and "['image', 'caption']" in line


def test_config_file_typo_and_broken_syntax_are_one_line(tmp_path, capsys):
    (tmp_path / "typo.toml").write_text("[optim]\nlr = 1e-3\n\n[data]\nbatch_sise = 8\n")
    line = _one_line_error(["--config", str(tmp_path / "typo.toml")], capsys)
    assert "unknown key 'data.batch_sise'" in line and "'data.batch_size'" in line
    (tmp_path / "broken.yaml").write_text("optim: [1, 2\n")
    line = _one_line_error(["--config", str(tmp_path / "broken.yaml")], capsys)
    assert "cannot parse config file" in line


def test_negative_seed_is_rejected_before_any_work(tmp_path, capsys):
    line = _one_line_error(["--run.seed", "-1", "--run.output-dir", str(tmp_path)], capsys)
    assert "--run.seed must be >= 0, got -1" in line
    assert not any(tmp_path.iterdir())


def test_unreadable_pretrained_file_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.pt").write_text("image,caption\nthese are not weights\n")
    args = ["--optim.max-steps", "1", "--run.output-dir", str(tmp_path)]
    line = _one_line_error(["--model.pretrained", str(tmp_path / "notes.pt"), *args], capsys)
    assert f"cannot load pretrained weights '{tmp_path / 'notes.pt'}'" in line


def test_eval_on_an_image_folder_with_an_empty_class_and_a_broken_image(tmp_path, capsys):
    """``cyclip eval --task zeroshot`` on ImageFolder data where one class folder is empty and
    one image is not an image: exit 0, the empty class is kept (a warning), the broken file is
    dropped, and the result counts only the readable images."""
    from cyclip.cli import eval as eval_cli

    root = tmp_path / "folder"
    for name, colour in (("red", (220, 0, 0)), ("blue", (0, 0, 220))):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (24, 24), colour).save(root / name / f"{i}.png")
    (root / "green").mkdir()  # empty class
    (root / "blue" / "broken.png").write_text("not an image")
    argv = [
        "--model", "cyclip-tiny", "--task", "zeroshot", "--data", str(root), "--workers", "0",
        "--no-cache", "--output-dir", str(tmp_path / "out"),
    ]  # fmt: skip
    assert eval_cli.main(argv) == 0, capsys.readouterr().err
    (result,) = (tmp_path / "out").glob("*.json")
    report = json.loads(result.read_text())
    assert report["dataset"]["n"] == 6 and report["dataset"]["skipped"] == 1
    recall = report["details"]["per_class_recall"]  # classes sorted: blue, green, red
    assert len(recall) == 3 and recall[1] is None  # the empty class has no recall to report


def test_resume_from_a_truncated_checkpoint_file_is_one_line(tmp_path, capsys):
    """A checkpoint cut short (a copy interrupted, a full disk outside cyclip): exit 2 with one
    line naming the file, not a traceback from the zip reader."""

    def args(name: str, *extra: str) -> list[str]:
        return train_args(tmp_path, name, "--optim.max-steps", "2", *extra)[1:]

    assert cli.main(args("r")) == 0
    ckpt = tmp_path / "r" / "checkpoints" / "step_00000002.pt"
    cut = tmp_path / "cut.pt"
    cut.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    capsys.readouterr()
    line = _one_line_error(args("r2", "--run.resume", str(cut)), capsys)
    assert f"checkpoint {cut} is truncated or corrupt" in line
