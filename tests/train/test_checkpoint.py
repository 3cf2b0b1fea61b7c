"""Checkpoint files: atomic writes, rotation, weights_only loading, open_clip compatibility, RNG."""

from __future__ import annotations

import random

import numpy as np
import open_clip
import pytest
import torch

from cyclip.train import train
from cyclip.train.checkpoint import (
    CheckpointManager,
    atomic_save,
    clean_state_dict,
    load_checkpoint,
    remove_stale_temp_files,
    unwrap_model,
)
from cyclip.train.rng import capture_rng_state, gather_rng_states, restore_rng_state

from .conftest import tiny_config
from .fakes import TensorPairLoader


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 4-step cyclip-tiny run; its latest checkpoint is read by several tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ckpt")
    try:
        return train(
            tiny_config(out, optim={"max_steps": 4}, model={"force_context_length": 12}),
            loader=TensorPairLoader(64, batch_size=8, context_length=12),
        )
    finally:
        torch.set_num_threads(threads)


def draws() -> tuple:
    return (random.random(), float(np.random.rand()), float(torch.rand(())))


def test_checkpoint_loads_with_weights_only_and_holds_the_documented_fields(finished_run):
    ckpt = torch.load(finished_run.checkpoint, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_name", "model_overrides", "config", "cyclip_version",
                "step", "epoch", "batch_in_epoch", "optimizer", "scaler", "scheduler", "rng",
                "counters"):  # fmt: skip
        assert key in ckpt, key
    assert ckpt["model_name"] == "cyclip-tiny" and ckpt["step"] == 4
    assert ckpt["model_overrides"] == {"force_context_length": 12}
    assert ckpt["config"]["optim"]["max_steps"] == 4
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in ckpt["state_dict"])
    assert len(ckpt["rng"]) == 1 and ckpt["rng"][0]["torch"].dtype == torch.uint8


def test_open_clip_loads_a_cyclip_checkpoint(finished_run):
    ckpt = load_checkpoint(finished_run.checkpoint)
    model = open_clip.create_model(
        "cyclip-tiny", pretrained=str(finished_run.checkpoint), force_context_length=12
    )
    for name, tensor in model.state_dict().items():
        if name in ckpt["state_dict"]:
            assert torch.equal(tensor, ckpt["state_dict"][name]), name


def test_rng_state_round_trip_through_a_checkpoint_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached Gaussian in numpy's state
    atomic_save({"rng": gather_rng_states(torch.device("cpu"))}, tmp_path / "rng.pt")
    expected = draws()
    draws()
    saved = torch.load(tmp_path / "rng.pt", weights_only=True)["rng"]
    restore_rng_state(saved[0])
    assert draws() == expected
    restore_rng_state(capture_rng_state())  # capture and gather agree on the format


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "c.pt"
    atomic_save({"v": torch.ones(2)}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"v": Unpicklable()}, target)
    assert torch.equal(torch.load(target, weights_only=True)["v"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temp file left


def test_manager_keeps_the_last_k_and_points_latest_at_the_newest(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in range(1, 6):
        manager.save({"state_dict": {}, "model_name": "m", "step": step}, step)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["latest.pt", "step_00000004.pt", "step_00000005.pt"]
    assert load_checkpoint(manager.latest)["step"] == 5
    (tmp_path / ".tmp-abc.pt").write_bytes(b"partial")  # what a SIGKILL mid-write leaves
    assert [p.name for p in remove_stale_temp_files(tmp_path)] == [".tmp-abc.pt"]
    with pytest.raises(ValueError, match="keep_last must be >= 1"):
        CheckpointManager(tmp_path, keep_last=0)


def test_state_dict_prefixes_of_wrappers_are_removed():
    model = torch.nn.Linear(2, 2)
    compiled = torch.compile(model)  # compiles lazily: wrapping costs nothing here
    assert unwrap_model(compiled) is model
    keys = clean_state_dict(compiled.state_dict()).keys()
    assert set(keys) == {"weight", "bias"}
    assert set(clean_state_dict({"module._orig_mod.w": torch.zeros(1)})) == {"w"}


def test_loading_something_else_says_what_to_do(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a cyclip training checkpoint.*--model.pretrained"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
