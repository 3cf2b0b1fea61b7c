"""End-to-end runs of ``train()`` on generated tensors: run directory, resume, accumulation."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
import yaml

from cyclip.models import create_model
from cyclip.rundir import CheckpointPayload, RunDir
from cyclip.train import ConfigError, config_to_dict, train
from cyclip.train.checkpoint import load_checkpoint

from .conftest import tiny_config
from .fakes import TensorPairLoader

REQUIRED_KEYS = {
    "step", "epoch", "samples", "lr", "logit_scale", "loss", "contrastive_loss",
    "inmodal_cyclic_loss", "crossmodal_cyclic_loss", "inmodal_residual", "crossmodal_residual",
    "samples_per_s", "grad_norm", "epoch_skipped", "nonfinite_skipped",
}  # fmt: skip


def read_metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_writes_the_documented_run_directory(tmp_path):
    cfg = tiny_config(tmp_path, run={"tensorboard": True})
    result = train(cfg, loader=TensorPairLoader(64, batch_size=8))
    run_dir = tmp_path / "run"
    assert result.run_dir == run_dir and result.step == 16 and result.epoch == 2
    assert yaml.safe_load((run_dir / "config.yaml").read_text()) == config_to_dict(cfg.resolved())
    lines = read_metrics(run_dir)
    assert [m["step"] for m in lines] == list(range(1, 17))
    assert all(REQUIRED_KEYS <= set(m) for m in lines)
    assert [m["samples"] for m in lines] == [8 * s for s in range(1, 17)]
    assert lines[0]["lr"] == pytest.approx(cfg.optim.lr / cfg.optim.warmup_steps)
    assert lines[0]["epoch"] == 0 and lines[-1]["epoch"] == 1
    assert all(0 < m["logit_scale"] <= 100 for m in lines)
    sums = [
        m["contrastive_loss"] + m["inmodal_cyclic_loss"] + m["crossmodal_cyclic_loss"]
        for m in lines
    ]
    assert sums == pytest.approx([m["loss"] for m in lines], rel=1e-6)
    assert any(
        p.name.startswith("events.out.tfevents") for p in (run_dir / "tensorboard").iterdir()
    )
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["latest.pt", "step_00000012.pt", "step_00000016.pt"]  # keep_last=2
    assert load_checkpoint(run_dir / "checkpoints" / "latest.pt")["step"] == 16
    assert result.checkpoint == run_dir / "checkpoints" / "step_00000016.pt"
    # the one definition of the layout and the payload is what the trainer wrote
    layout = RunDir(run_dir)
    assert (layout.config, layout.metrics, layout.latest) == (
        run_dir / "config.yaml", run_dir / "metrics.jsonl", run_dir / "checkpoints" / "latest.pt"
    )  # fmt: skip
    assert set(load_checkpoint(layout.latest)) == CheckpointPayload.__required_keys__


def test_clip_run_logs_no_cyclic_terms_but_still_the_residuals(tmp_path):
    cfg = tiny_config(tmp_path, loss={"name": "clip"}, optim={"max_steps": 3})
    train(cfg, loader=TensorPairLoader(64, batch_size=8))
    last = read_metrics(tmp_path / "run")[-1]
    assert "inmodal_cyclic_loss" not in last and "crossmodal_cyclic_loss" not in last
    assert last["loss"] == last["contrastive_loss"]
    assert last["inmodal_residual"] > 0 and last["crossmodal_residual"] > 0


def test_accumulation_run_follows_the_large_batch_run(tmp_path):
    big = train(
        tiny_config(tmp_path, "big", optim={"max_steps": 6}),
        loader=TensorPairLoader(64, batch_size=8),
    )
    acc = train(
        tiny_config(tmp_path, "acc", optim={"max_steps": 6, "accum_steps": 2}),
        loader=TensorPairLoader(64, batch_size=4),
    )
    assert big.step == acc.step == 6
    big_loss = [m["loss"] for m in read_metrics(big.run_dir)]
    acc_loss = [m["loss"] for m in read_metrics(acc.run_dir)]
    assert acc_loss == pytest.approx(big_loss, rel=1e-4)


def test_sigterm_then_resume_is_bit_exact(tmp_path):
    """Stopped by SIGTERM mid-epoch (checkpoint written), then resumed with ``resume=latest``:
    the same weights, optimiser state and loss curve as an uninterrupted run."""
    sections = {"run": {"deterministic": True, "checkpoint_every": 100, "eval_every": 1}}
    reference = train(
        tiny_config(tmp_path, "ref", **sections),
        loader=TensorPairLoader(64, batch_size=8),
        eval_fn=lambda model, step: {},
    )

    def stop_at_5(model, step):
        if step == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return {}

    stopped = train(
        tiny_config(tmp_path, "cut", **sections),
        loader=TensorPairLoader(64, batch_size=8),
        eval_fn=stop_at_5,
    )
    assert stopped.stopped_by == "SIGTERM" and 5 <= stopped.step < 8  # stopped inside epoch 0
    assert load_checkpoint(stopped.checkpoint)["batch_in_epoch"] == stopped.step
    resumed = train(
        tiny_config(tmp_path, "cut", run={**sections["run"], "resume": "latest"}),
        loader=TensorPairLoader(64, batch_size=8),
        eval_fn=lambda model, step: {},
    )
    assert resumed.step == reference.step == 16 and resumed.stopped_by is None
    ref_ckpt, res_ckpt = load_checkpoint(reference.checkpoint), load_checkpoint(resumed.checkpoint)
    for name, tensor in ref_ckpt["state_dict"].items():
        assert torch.equal(tensor, res_ckpt["state_dict"][name]), name
    for i, state in ref_ckpt["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg_sq"], res_ckpt["optimizer"]["state"][i]["exp_avg_sq"])
    ref_lines = [m for m in read_metrics(reference.run_dir) if "loss" in m]
    res_lines = [m for m in read_metrics(resumed.run_dir) if "loss" in m]
    assert [m["step"] for m in res_lines] == list(range(1, 17))  # no step logged twice
    assert [m["loss"] for m in res_lines] == [m["loss"] for m in ref_lines]


def test_eval_every_without_anything_to_evaluate_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        train(tiny_config(tmp_path, run={"eval_every": 2}), loader=TensorPairLoader(64))
    assert not (tmp_path / "run").exists()


def test_eval_fn_metrics_are_logged_as_eval_lines(tmp_path):
    calls = []

    def eval_fn(model, step):
        calls.append((step, model.training))
        return {"probe": float(step)}

    cfg = tiny_config(tmp_path, optim={"max_steps": 6}, run={"eval_every": 3})
    result = train(cfg, loader=TensorPairLoader(64, batch_size=8), eval_fn=eval_fn)
    assert calls == [(3, False), (6, False)]  # called in eval mode, not twice at the end
    evals = [m for m in read_metrics(result.run_dir) if "eval" in m]
    assert [(m["step"], m["eval"]["probe"]) for m in evals] == [(3, 3.0), (6, 6.0)]
    assert all(set(m) == {"step", "eval"} and m["eval"]["eval_seconds"] >= 0 for m in evals)
    assert result.metrics["eval"] == evals[-1]["eval"]


def test_locked_image_tower_does_not_move_and_checkpointing_changes_no_numbers(tmp_path):
    plain = train(
        tiny_config(tmp_path, "plain", optim={"max_steps": 3}),
        loader=TensorPairLoader(64, batch_size=8),
    )
    ckpt = train(
        tiny_config(tmp_path, "ckpt", optim={"max_steps": 3}, model={"grad_checkpointing": True}),
        loader=TensorPairLoader(64, batch_size=8),
    )
    locked = train(
        tiny_config(tmp_path, "locked", optim={"max_steps": 3}, model={"lock_image": True}),
        loader=TensorPairLoader(64, batch_size=8),
    )
    plain_losses = [m["loss"] for m in read_metrics(plain.run_dir)]
    assert [m["loss"] for m in read_metrics(ckpt.run_dir)] == pytest.approx(plain_losses, rel=1e-6)
    torch.manual_seed(0)  # the trainer's initial weights come from seed 0
    initial = create_model("cyclip-tiny").model.state_dict()
    final = load_checkpoint(locked.checkpoint)["state_dict"]
    assert all(torch.equal(final[k], initial[k]) for k in initial if k.startswith("visual."))
    assert not torch.equal(final["text_projection"], initial["text_projection"])


@pytest.mark.slow
def test_torch_compile_run_saves_unprefixed_weights(tmp_path):
    """torch.compile on the CPU needs a C++ compiler and a minute of compilation."""
    result = train(
        tiny_config(tmp_path, optim={"max_steps": 2}, model={"torch_compile": True}),
        loader=TensorPairLoader(64, batch_size=8),
    )
    state = load_checkpoint(result.checkpoint)["state_dict"]
    assert not any(k.startswith("_orig_mod.") for k in state)
    assert set(state) == set(create_model("cyclip-tiny").model.state_dict())


def test_resume_with_another_global_batch_keeps_the_sample_position(tmp_path):
    first = train(
        tiny_config(tmp_path, optim={"max_steps": 3, "epochs": 1}),
        loader=TensorPairLoader(64, batch_size=8),
    )
    assert load_checkpoint(first.checkpoint)["batch_in_epoch"] == 3  # 24 samples into epoch 0
    cfg = tiny_config(tmp_path, data={"batch_size": 16}, run={"resume": "latest"})
    with pytest.warns(UserWarning, match="global batch changed from 8 to 16"):
        resumed = train(cfg, loader=TensorPairLoader(64, batch_size=16))
    lines = read_metrics(resumed.run_dir)
    # 2 epochs of 4 batches of 16 = 8 steps; epoch 0 resumes after 16 of its samples (24 rounded
    # down to whole batches), so 3 of its batches remain
    assert [m["step"] for m in lines] == list(range(1, 9))
    assert [m["samples"] for m in lines] == [8, 16, 24, 40, 56, 72, 88, 104]
    assert [m["epoch"] for m in lines[3:]] == [0, 0, 0, 1, 1]


def test_val_data_is_evaluated_at_the_end_without_eval_every(tmp_path, capsys):
    val = "builtin:shapes/val?size=16&image_size=32"
    cfg = tiny_config(tmp_path, optim={"max_steps": 3}, data={"val_data": val})
    assert cfg.run.eval_every == 0
    result = train(cfg, loader=TensorPairLoader(64, batch_size=8))
    evals = [m for m in read_metrics(result.run_dir) if "eval" in m]
    assert [m["step"] for m in evals] == [3]
    assert evals[0]["eval"]["val_pairs"] == 16 and evals[0]["eval"]["val_contrastive_loss"] > 0
    assert result.metrics["eval"] == evals[0]["eval"]
    out = capsys.readouterr().out
    assert f"evaluation: validation loss on {val} at the end of the run" in out
