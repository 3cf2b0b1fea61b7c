"""The task registry: a new task is one entry, and every caller (CLI, pipeline, schema, report)
picks it up."""

from __future__ import annotations

import pytest

from cyclip.cli.eval import main
from cyclip.evaluation import (
    TASKS,
    Task,
    TaskRequest,
    evaluate_model,
    get_task,
    open_task,
    read_result,
    register_task,
)
from cyclip.evaluation.schema import make_result
from cyclip.evaluation.sources import open_pairs_source
from cyclip.report import sections
from cyclip.report.document import Section

PAIRS = "builtin:shapes/val?size=12&image_size=32"


def _mean_matched_cosine(evaluator, source) -> dict:
    """A toy protocol: the mean cosine of matched image-caption pairs."""
    features = evaluator.extractor.pairs(source.dataset, source.fingerprint)
    cosine = (features.image_features * features.text_features).sum(-1).mean()
    dataset = {**source.describe(), "n": int(features.image_features.shape[0])}
    timing = {"total_s": 0.0, "metrics_s": 0.0, "extraction": []}
    return make_result(
        "matched", evaluator.model.to_dict(), dataset, {"matched": {"cosine": cosine}}, timing
    )


@pytest.fixture
def matched_task():
    task = register_task(
        Task(
            name="matched",
            summary="mean matched cosine",
            open=lambda request: open_pairs_source(request.data),
            evaluate=_mean_matched_cosine,
        )
    )
    yield task
    del TASKS["matched"]


def test_builtin_tasks_are_registered():
    assert {"zeroshot", "retrieval", "geometry", "robustness"} <= set(TASKS)
    assert not TASKS["robustness"].cli


def test_unknown_task_names_the_closest():
    with pytest.raises(ValueError, match="did you mean 'zeroshot'"):
        get_task("zeroshoot")


def test_duplicate_registration_is_refused(matched_task):
    with pytest.raises(ValueError, match="already registered"):
        register_task(matched_task)


def test_options_a_task_does_not_read_are_refused():
    with pytest.raises(ValueError, match="--train-data do\\(es\\) not apply to --task retrieval"):
        open_task("retrieval", TaskRequest(data=PAIRS, train_data=PAIRS))


def test_a_registered_task_runs_through_pipeline_and_cli(matched_task, tiny_bundle, tmp_path):
    run = open_task("matched", TaskRequest(data=PAIRS))
    evaluation = evaluate_model(tiny_bundle, [run], output_dir=tmp_path / "lib")
    (path,) = evaluation.paths
    result = read_result(path)  # the schema accepts the registered task
    assert result["task"] == "matched" and result["dataset"]["n"] == 12
    assert -1.0 <= result["metrics"]["matched"]["cosine"] <= 1.0

    argv = ["--model", "cyclip-tiny", "--task", "matched", "--data", PAIRS]
    assert main([*argv, "--output-dir", str(tmp_path / "cli"), "--workers", "0"]) == 0
    (cli_path,) = (tmp_path / "cli").glob("*.json")
    assert cli_path.name.startswith("shapes__val__matched__")
    assert read_result(cli_path)["model"]["name"] == "cyclip-tiny"


def test_a_task_not_registered_is_an_invalid_choice(capsys):
    assert main(["--model", "cyclip-tiny", "--task", "matched", "--data", PAIRS]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_report_sections_registry_inserts_in_order():
    spec = sections.SectionSpec("extra", lambda runs: Section("Extra", "extra"))
    sections.register_section(spec, after="retrieval")
    try:
        slugs = [s.slug for s in sections.SECTIONS]
        assert slugs[slugs.index("retrieval") + 1] == "extra"
        with pytest.raises(ValueError, match="already registered"):
            sections.register_section(spec)
    finally:
        sections.SECTIONS.remove(spec)
