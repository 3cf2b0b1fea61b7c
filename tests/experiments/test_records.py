"""The one-line-per-run record runs.jsonl (cyclip.experiments.records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cyclip.experiments import collect_metrics, read_run_records, record_metrics
from cyclip.experiments.claims import ALL_METHODS
from cyclip.experiments.records import find_runs, run_record, write_run_records
from cyclip.experiments.stats import markdown_tables

RESULTS = Path(__file__).resolve().parents[2] / "experiments" / "results"


def _make_run(run_dir: Path, top1: float, evaluated: bool = True) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"loss": {"name": "clip"}, "seed": 3}))
    lines = [
        {"step": 1, "loss": 4.0},
        {"step": 2, "loss": 3.5, "grad_norm": float("nan")},
        {"step": 2, "eval": True, "shapes/shape/test/zero_shot/top1": 1.0},
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if evaluated:
        (run_dir / "eval").mkdir()
        result = {
            "dataset": {"name": "shapes/shape/test"},
            "metrics": {"zero_shot": {"top1": top1, "top5": 90.0}, "robustness": {"r": None}},
        }
        (run_dir / "eval" / "a.json").write_text(json.dumps(result))


def test_record_holds_config_final_training_line_and_flat_metrics(tmp_path: Path) -> None:
    _make_run(tmp_path / "runs" / "clip-seed3", top1=40.0)
    record = run_record(tmp_path / "runs" / "clip-seed3", "main", tmp_path)
    assert record["run"] == "runs/clip-seed3" and record["experiment"] == "main"
    assert record["config"] == {"loss": {"name": "clip"}, "seed": 3}
    assert record["train"] == {"step": 2, "loss": 3.5, "grad_norm": None}  # eval line skipped
    assert record["eval"] == {
        "shapes/shape/test/zero_shot/top1": 40.0,
        "shapes/shape/test/zero_shot/top5": 90.0,
        "shapes/shape/test/robustness/r": None,
    }
    assert record_metrics(record) == collect_metrics(tmp_path / "runs" / "clip-seed3")


def test_write_run_records_finds_main_and_sweep_runs_only(tmp_path: Path) -> None:
    _make_run(tmp_path / "runs" / "clip-seed0", top1=10.0)
    _make_run(tmp_path / "runs" / "cyclip-seed0", top1=20.0, evaluated=False)  # cut off
    _make_run(tmp_path / "sweep" / "bs8-paper" / "cyclip-seed0", top1=30.0)
    _make_run(tmp_path / "nested" / "sweep" / "bs8-mean" / "cyclip-seed0", top1=50.0)
    path = write_run_records(tmp_path)
    records = read_run_records(path)
    assert [(r["experiment"], r["run"]) for r in records] == [
        ("main", "runs/clip-seed0"),
        ("sweep", "sweep/bs8-paper/cyclip-seed0"),
    ]
    assert "NaN" not in path.read_text()  # strict JSON
    assert find_runs(tmp_path / "nested")[0][1].name == "cyclip-seed0"
    with pytest.raises(FileNotFoundError, match="no evaluated run folders"):
        write_run_records(tmp_path / "empty")


COMMITTED = sorted(p.parent for p in RESULTS.glob("*/runs.jsonl"))


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_committed_records_reproduce_the_committed_tables(folder: Path) -> None:
    records = read_run_records(folder / "runs.jsonl")
    main = [r for r in records if r["experiment"] == "main"]
    per_method = {
        m: [record_metrics(r) for r in main if r["run"].startswith(f"runs/{m}-seed")]
        for m in ALL_METHODS
    }
    per_method = {m: runs for m, runs in per_method.items() if runs}
    sweep = [r for r in records if r["experiment"] == "sweep"]
    assert per_method or sweep
    if per_method:  # a main comparison: its CyCLIP-vs-CLIP table, row by row
        assert len(per_method["clip"]) == len(per_method["cyclip"]) == 8
        tables, _ = markdown_tables(per_method, "clip", "cyclip")
        committed = (folder / "results.md").read_text(encoding="utf-8")
        rows = [line for line in tables.splitlines() if line.startswith("| ")]
        assert len(rows) > 90 and all(row in committed for row in rows)
    if sweep:  # every batch size of the sweep with both normalisations
        cells = {
            (r["config"]["data"]["batch_size"], r["config"]["loss"]["normalization"]) for r in sweep
        }
        sizes = {n for n, _ in cells}
        assert cells == {(n, norm) for n in sizes for norm in ("paper", "mean")}
