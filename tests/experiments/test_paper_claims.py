"""End-to-end smoke test of experiments/paper_claims.py in quick mode with tiny settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "paper_claims.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("paper_claims", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_mode_end_to_end(tmp_path: Path) -> None:
    script = _load_script()
    argv = ["--out", str(tmp_path), "--quick", "--steps", "2", "--train-pairs", "64"]
    argv += ["--batch-size", "16", "--sweep-batch-sizes", "8", "16", "--sweep-steps", "2"]
    assert script.main(argv) == 0

    methods = ("clip", "cyclip", "c-cyclip", "i-cyclip")
    configs = {}
    for method in methods:
        for seed in (0, 1):
            run = tmp_path / "runs" / f"{method}-seed{seed}"
            assert len(list((run / "eval").glob("*.json"))) >= 15  # the whole builtin suite
            configs[(method, seed)] = yaml.safe_load((run / "config.yaml").read_text())
    # identical settings except the loss (and the seed)
    for (method, seed), cfg in configs.items():
        reference = dict(configs[("clip", seed)])
        for section in ("model", "data", "optim"):
            assert cfg[section] == reference[section], (method, section)
        assert cfg["run"]["seed"] == seed
    assert configs[("c-cyclip", 0)]["loss"]["lambda_inmodal"] == 0.0

    text = (tmp_path / "results.md").read_text()
    assert "| metric | clip | cyclip | c-cyclip | i-cyclip |" in text
    assert "Consistency@k" in text and "Batch-size sweep" in text
    assert (tmp_path / "report.html").stat().st_size > 0
    assert (tmp_path / "sweep.png").exists() and (tmp_path / "claims.png").exists()
    rows = json.loads((tmp_path / "all.json").read_text())["sweep"]
    assert {(r["batch_size"], r["normalization"]) for r in rows} == {
        (8, "paper"),
        (8, "mean"),
        (16, "paper"),
        (16, "mean"),
    }
    assert all(r["steps"] == 2 and r["final_contrastive_loss"] > 0 for r in rows)
    records = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [r["experiment"] for r in records] == ["main"] * 8 + ["sweep"] * 4
    assert all(r["train"]["step"] == 2 and r["eval"] for r in records)


def test_records_only_rewrites_runs_jsonl_or_exits_2(tmp_path: Path) -> None:
    script = _load_script()
    assert script.main(["--out", str(tmp_path), "--records-only"]) == 2
    run = tmp_path / "runs" / "clip-seed0"
    (run / "eval").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    result = {"dataset": {"name": "d"}, "metrics": {"zero_shot": {"top1": 5.0}}}
    (run / "eval" / "d.json").write_text(json.dumps(result))
    assert script.main(["--out", str(tmp_path), "--records-only"]) == 0
    record = json.loads((tmp_path / "runs.jsonl").read_text())
    assert record["eval"] == {"d/zero_shot/top1": 5.0} and record["train"]["loss"] == 2.0


def test_tables_only_tabulates_the_evaluated_runs_and_trains_nothing(tmp_path: Path) -> None:
    script = _load_script()
    args = ["--out", str(tmp_path), "--tables-only", "--no-sweep", "--seeds", "0", "1", "2"]
    assert script.main([*args, "--methods", "clip", "cyclip"]) == 2  # nothing evaluated yet
    for name, top1 in (("clip-seed0", 5.0), ("clip-seed1", 7.0), ("cyclip-seed2", 9.0)):
        run = tmp_path / "runs" / name
        (run / "eval").mkdir(parents=True)
        (run / "config.yaml").write_text("seed: 0\n")
        (run / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
        result = {"dataset": {"name": "d"}, "metrics": {"zero_shot": {"top1": top1}}}
        (run / "eval" / "d.json").write_text(json.dumps(result))
    assert script.main([*args, "--methods", "clip", "cyclip"]) == 0
    text = (tmp_path / "main.md").read_text()
    assert "seeds clip [0, 1]; cyclip [2]" in text and "Tables only" in text
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "clip-seed0",
        "clip-seed1",
        "cyclip-seed2",
    ]  # nothing was trained
