"""``torchrun --nproc_per_node 2`` (gloo, CPU) follows one process with the doubled batch.

The loss gathers features with gradients and DDP averages gradients, so the two runs compute the
same losses and updates up to floating-point reassociation (per-rank forward passes on half
batches, reduction order of the all-reduce).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cyclip.cli.train import main as cli_main

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
STEPS = 6


def args(out, name: str, batch_size: int) -> list[str]:
    return [
        "--model.name", "cyclip-tiny",
        "--data.train-data", "builtin:shapes/pretrain", "--data.train-num-samples", "96",
        "--data.batch-size", str(batch_size), "--data.workers", "0", "--data.val-data", "None",
        "--optim.max-steps", str(STEPS), "--optim.warmup-steps", "2", "--optim.lr", "5e-4",
        "--optim.precision", "fp32",  # the parity tolerance is an fp32 one
        "--run.output-dir", str(out), "--run.name", name, "--run.log-every", "1",
        "--run.checkpoint-every", "0", "--run.no-tensorboard", "--run.no-progress",
    ]  # fmt: skip


def curve(run_dir) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def run_torchrun(tmp_path, name: str, batch_size: int, extra: list[str]) -> subprocess.Popen:
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    return subprocess.Popen(
        [*torchrun, "-m", "cyclip", "train", *args(tmp_path, name, batch_size), *extra],
        env=ENV,
        stdout=(tmp_path / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def assert_same_curves(single: list[dict], ddp: list[dict]) -> None:
    assert [m["step"] for m in ddp] == list(range(1, STEPS + 1))
    assert [m["samples"] for m in ddp] == [16 * s for s in range(1, STEPS + 1)]
    terms = ("loss", "contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss")
    for key in (*terms, "grad_norm", "logit_scale"):
        got, want = [m[key] for m in ddp], [m[key] for m in single]
        assert got == pytest.approx(want, rel=2e-4, abs=1e-6), key


def test_two_process_gloo_run_matches_one_process_with_double_batch(tmp_path):
    ddp = run_torchrun(tmp_path, "ddp", 8, [])
    try:
        assert cli_main(args(tmp_path, "single", 16)) == 0  # meanwhile, on the other core
    finally:
        code = ddp.wait(240)
    assert code == 0, (tmp_path / "ddp.log").read_text()[-3000:]
    assert_same_curves(curve(tmp_path / "single"), curve(tmp_path / "ddp"))
    # only rank 0 writes: one metrics line per step, one run directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "ddp.log", "single"]


def test_two_processes_with_accumulation_and_local_loss_match_too(tmp_path):
    """DDP's no_sync micro-batches, the feature cache and open_clip's local_loss together."""
    # global batch 16 = 2 processes x 2 micro-batches x 4
    ddp = run_torchrun(tmp_path, "ddp", 4, ["--optim.accum-steps", "2", "--loss.local-loss"])
    try:
        assert cli_main(args(tmp_path, "single", 16)) == 0
    finally:
        code = ddp.wait(240)
    assert code == 0, (tmp_path / "ddp.log").read_text()[-3000:]
    assert_same_curves(curve(tmp_path / "single"), curve(tmp_path / "ddp"))


@pytest.mark.slow
def test_two_process_cy_siglip_run_with_accumulation_matches_one_process(tmp_path):
    """SigLIP's exchange (open_clip's bidir) with DDP and the feature cache: the same curves,
    logit_bias included, as one process with the global batch."""
    siglip = ["--loss.name", "cy-siglip"]
    ddp = run_torchrun(tmp_path, "ddp", 4, [*siglip, "--optim.accum-steps", "2"])
    try:
        assert cli_main([*args(tmp_path, "single", 16), *siglip]) == 0
    finally:
        code = ddp.wait(240)
    assert code == 0, (tmp_path / "ddp.log").read_text()[-3000:]
    single, parallel = curve(tmp_path / "single"), curve(tmp_path / "ddp")
    assert_same_curves(single, parallel)
    got, want = [m["logit_bias"] for m in parallel], [m["logit_bias"] for m in single]
    assert got == pytest.approx(want, rel=2e-4, abs=1e-6)
