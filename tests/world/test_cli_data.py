"""``cyclip data``: list, show, export, and clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from cyclip import world
from cyclip.cli.data import main


def test_list(capsys: pytest.CaptureFixture[str]):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in world.list_tasks():
        assert name in out
    assert "100,000" in out and "shapes-v1" in out


def test_show_writes_a_contact_sheet(tmp_path: Path):
    out = tmp_path / "grid.png"
    assert main(["show", "shapes/retrieval", "--out", str(out), "--n", "4"]) == 0
    sheet = Image.open(out)
    assert sheet.width >= 2 * 64 * 3 and sheet.height >= 2 * 64 * 3


def test_export(tmp_path: Path):
    target = tmp_path / "pairs"
    assert main(["export", "shapes/val", str(target), "--limit", "3", "--format", "csv"]) == 0
    with open(target / "pairs.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_unknown_task_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["show", "shapes/colr/test", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Did you mean 'shapes/colour/test'" in err
    assert "Traceback" not in err


def test_bad_arguments_exit_2(tmp_path: Path):
    assert main(["export", "shapes/val"]) == 2  # missing DIR
    assert main(["frobnicate"]) == 2
    assert main(["show", "shapes/val", "--out", str(tmp_path / "x.txt")]) == 2
