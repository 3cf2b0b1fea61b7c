from cyclip.report.runs import load_run, unique_names


def test_load_run_reads_every_part_and_reports_problems(two_runs):
    run = load_run(two_runs[1])
    assert run.name == "cyclip"
    assert run.config["loss"]["lambda_inmodal"] == 0.25
    assert len(run.steps) == 40 and len(run.periodic_evals) == 2
    assert run.series("loss")[0][:3] == [1.0, 2.0, 3.0]
    assert {r["task"] for r in run.results} == {"zeroshot", "robustness", "geometry"}
    assert any("metrics.jsonl:43" in p for p in run.problems)  # the torn last line
    assert any("broken.json" in p for p in run.problems)
    assert "λ_in=0.25" in run.describe() and "40 steps" in run.describe()


def test_empty_directory_is_an_empty_run(tmp_path):
    run = load_run(tmp_path)
    assert run.steps == [] and run.results == [] and run.problems == []


def test_unique_names(tmp_path):
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    assert unique_names([a, b]) == ["x/run", "y/run"]
    assert unique_names([a, tmp_path / "other"]) == ["run", "other"]
