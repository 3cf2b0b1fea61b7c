"""Evaluation during training (``--run.eval-every`` / ``--run.eval-suite``): the entry syntax, the
logged keys, failures that do not stop the run, and the schedule across stops and resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclip.cli.train import main as cli_main
from cyclip.train import ConfigError, TrainingError, train
from cyclip.train.periodic import EvalPart, PeriodicEvaluation, eval_suite_problems, parse_entry
from train.conftest import tiny_config
from train.fakes import TensorPairLoader

ZEROSHOT = "zeroshot=builtin:shapes/shape/test?size=16&image_size=32"
RETRIEVAL = "retrieval=builtin:shapes/retrieval?size=8&image_size=32"


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def eval_lines(run_dir: Path) -> list[dict]:
    return [m for m in read_metrics(run_dir) if "eval" in m]


def run(tmp_path, name="run", eval_fn=None, max_steps=8, **run_fields):
    fields = {"checkpoint_every": 100, **run_fields}
    cfg = tiny_config(tmp_path, name, optim={"max_steps": max_steps}, run=fields)
    return train(cfg, loader=TensorPairLoader(64, batch_size=8), eval_fn=eval_fn)


# ------------------------------------------------------------------------------ the syntax


def test_entries_name_a_suite_or_a_task_with_its_data_and_options():
    assert parse_entry("quick").suite == "quick" and parse_entry(" builtin ").suite == "builtin"
    entry = parse_entry("zeroshot=data/cifar,classnames=names.txt,train-data=data/train")
    assert entry.task == "zeroshot" and entry.request.data == "data/cifar"
    assert entry.request.classnames == Path("names.txt")
    assert entry.request.train_data == "data/train" and entry.request.options == {}
    # the data may hold '=' (builtin queries); only ',' separates the options
    assert parse_entry(ZEROSHOT).request.data == ZEROSHOT.split("=", 1)[1]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("zeroshoot=data", "unknown evaluation task 'zeroshoot' (did you mean 'zeroshot'?)"),
        ("retrieval", "task retrieval needs its data: retrieval=DATA"),
        ("quick,builtin", "expected quick, builtin or TASK=DATA"),
        ("zeroshot=", "expected quick, builtin or TASK=DATA"),
        ("zeroshot=d,classnames", "'classnames': expected KEY=VALUE"),
        ("retrieval=d,classnames=x", "classnames do(es) not apply to task retrieval"),
        ("zeroshot=d,split=dev", "split (a task option) do(es) not apply to task zeroshot"),
        ("robustness=d", "task 'robustness' is not run on its own data"),
    ],
)
def test_bad_entries_are_one_line_each(entry, message):
    (problem,) = eval_suite_problems([entry])
    assert problem.startswith(f"--run.eval-suite {entry}: ") and message in problem
    assert "\n" not in problem


def test_the_cli_refuses_unknown_tasks_and_unreadable_data_before_training(tmp_path, capsys):
    base = ["--model.name", "cyclip-tiny", "--run.output-dir", str(tmp_path), "--run.name", "x"]
    assert cli_main([*base, "--run.eval-suite", "quick", "quick", "nope=x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "cyclip train: error: --run.eval-suite quick: given twice",
        "cyclip train: error: --run.eval-suite nope=x: unknown evaluation task 'nope'; choose "
        "from " + err[1].split("choose from ")[1],
    ]
    missing = tmp_path / "no-such-folder"
    assert cli_main([*base, "--run.eval-suite", f"zeroshot={missing}"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"cyclip train: error: --run.eval-suite zeroshot={missing}: ")
    assert not (tmp_path / "x" / "metrics.jsonl").exists()  # nothing trained


def test_eval_every_with_only_a_suite_is_enough(tmp_path):
    with pytest.raises(ConfigError, match="or --run.eval-suite"):
        run(tmp_path, "none", eval_every=2)


# -------------------------------------------------------------------------- what is logged


def test_suite_metrics_are_logged_per_task_dataset_and_metric(tmp_path):
    result = run(tmp_path, eval_every=4, eval_suite=(ZEROSHOT, RETRIEVAL), tensorboard=True)
    lines = eval_lines(result.run_dir)
    assert [m["step"] for m in lines] == [4, 8]
    metrics = lines[0]["eval"]
    for key in (
        "zeroshot/shapes/shape/test/zero_shot/top1",
        "zeroshot/shapes/shape/test/zero_shot/top5",
        "retrieval/shapes/retrieval/retrieval/mean_recall",
        "retrieval/shapes/retrieval/retrieval/image_to_text_R@1",
    ):
        assert 0.0 <= metrics[key] <= 100.0, key
    assert metrics["eval_seconds"] > 0 and "failed" not in lines[0]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(result.run_dir / "tensorboard")).Reload()
    tags = events.Tags()["scalars"]
    top1 = events.Scalars("eval/zeroshot/shapes/shape/test/zero_shot/top1")
    assert [e.step for e in top1] == [4, 8]
    assert top1[0].value == pytest.approx(metrics["zeroshot/shapes/shape/test/zero_shot/top1"])
    assert "eval/eval_seconds" in tags and "train/loss" in tags


def test_an_evaluation_draws_nothing_from_the_training_rng_and_restores_train_mode():
    import random

    import torch

    def draws(model, step):
        return {"x": float(torch.rand(()) + random.random() + np.random.rand())}

    evaluation = PeriodicEvaluation([EvalPart("draws", draws)], fail_fast=False, timeout_s=1)
    model = torch.nn.Linear(2, 2).train()
    before = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    first = evaluation.evaluate(model, 1).metrics["x"]
    assert torch.equal(torch.get_rng_state(), before[0]) and random.getstate() == before[1]
    assert (np.random.get_state()[1] == before[2]).all() and model.training
    assert evaluation.evaluate(model, 2).metrics["x"] == first  # the same draws again


# --------------------------------------------------------------------------------- failures


def image_folder(root: Path) -> Path:
    for c, colour in enumerate(("red", "blue")):
        (root / colour).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (255 * (1 - c), 0, 255 * c)).save(root / colour / f"{i}.png")
    return root


def test_a_failing_evaluation_is_reported_once_and_training_goes_on(tmp_path, capsys):
    folder = image_folder(tmp_path / "images")

    def remove_images(model, step):  # runs after the suite entry
        shutil.rmtree(folder, ignore_errors=True)
        return {"probe": float(step)}

    entry = f"zeroshot={folder}"
    result = run(tmp_path, eval_fn=remove_images, eval_every=2, eval_suite=(entry,))
    assert result.step == 8 and result.stopped_by is None
    lines = eval_lines(result.run_dir)
    assert [m["step"] for m in lines] == [2, 4, 6, 8]
    assert "zeroshot/images/zero_shot/top1" in lines[0]["eval"] and "failed" not in lines[0]
    for line in lines[1:]:  # the other parts still log
        assert set(line["failed"]) == {entry} and line["eval"]["probe"] == line["step"]
        assert line["failed"][entry] == "ValueError: the test set has no readable images"
    out = capsys.readouterr().out
    assert out.count(f"{entry} failed") == 2  # the first failure, and the end-of-run count
    assert f"eval @ step 4: {entry} failed (ValueError: the test set has no readable" in out
    assert f"eval: {entry} failed at 3 of 4 evaluation(s)" in out


def test_eval_fail_fast_stops_the_run_with_the_cause(tmp_path):
    def broken(model, step):
        raise ValueError("no labels in the probe set")

    with pytest.raises(TrainingError) as info:
        run(tmp_path, eval_fn=broken, eval_every=3, eval_fail_fast=True)
    assert str(info.value) == (
        "the evaluation of step 3 failed: eval_fn: ValueError: no labels in the probe set "
        "(--run.eval-fail-fast; without it the failure is reported and training goes on)"
    )


# --------------------------------------------------------------------- schedule and resume


def test_a_stop_saves_first_and_the_resumed_run_evaluates_that_step(tmp_path):
    calls = []

    def stop_at_4(model, step):
        calls.append(step)
        if step == 4:  # SIGTERM: the run stops after the next step (5), which is scheduled
            os.kill(os.getpid(), signal.SIGTERM)
        return {"probe": float(step)}

    stopped = run(tmp_path, eval_fn=stop_at_4, eval_every=1)
    assert stopped.stopped_by == "SIGTERM" and stopped.step == 5
    assert calls == [1, 2, 3, 4]  # step 5: checkpoint first, no evaluation after a stop
    resumed = run(tmp_path, eval_fn=_record(calls), eval_every=1, resume="latest")
    assert resumed.step == 8 and calls == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [m["step"] for m in eval_lines(resumed.run_dir)] == [1, 2, 3, 4, 5, 6, 7, 8]


def _record(calls: list[int]):
    def eval_fn(model, step):
        calls.append(step)
        return {"probe": float(step)}

    return eval_fn


def test_resuming_a_finished_run_does_not_evaluate_its_last_step_again(tmp_path):
    calls: list[int] = []
    run(tmp_path, eval_fn=_record(calls), eval_every=3)
    assert calls == [3, 6, 8]  # 8: the end of the run
    again = run(tmp_path, eval_fn=_record(calls), eval_every=3, resume="latest")
    assert again.step == 8 and calls == [3, 6, 8]
    assert [m["step"] for m in eval_lines(again.run_dir)] == [3, 6, 8]


def test_a_killed_run_resumed_from_an_older_checkpoint_evaluates_each_step_once(tmp_path):
    calls: list[int] = []

    def killed_at_8(model, step):
        if step == 8:  # dies mid-evaluation: no checkpoint since step 5
            raise KeyboardInterrupt
        return _record(calls)(model, step)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, eval_fn=killed_at_8, max_steps=10, eval_every=2, checkpoint_every=5)
    assert [m["step"] for m in eval_lines(tmp_path / "run")] == [2, 4, 6]
    resumed = _record(calls)
    run(tmp_path, eval_fn=resumed, max_steps=10, eval_every=2, checkpoint_every=5, resume="latest")
    assert calls == [2, 4, 6, 6, 8, 10]  # 6 again: its line was logged after the checkpoint
    assert [m["step"] for m in eval_lines(tmp_path / "run")] == [2, 4, 6, 8, 10]


def test_the_suite_reads_under_the_training_data_limits_and_names_their_flags(monkeypatch):
    from cyclip.data.timeouts import LoaderTimeouts
    from cyclip.evaluation.pipeline import Evaluation
    from cyclip.models import create_model
    from cyclip.train.periodic import open_eval_suite, suite_part

    seen = []

    def fake_evaluate_model(bundle, plan, *, extract, cache):
        seen.append(extract)
        return Evaluation(results={})

    monkeypatch.setattr("cyclip.evaluation.evaluate_model", fake_evaluate_model)
    bundle = create_model("cyclip-tiny")
    limits = LoaderTimeouts(read=7.0, worker=70.0, flag_prefix="--data.")
    suite_part(open_eval_suite([ZEROSHOT])[0], bundle, limits).run(bundle.model, 0)
    assert len(seen) == 1 and seen[0].timeouts == limits
