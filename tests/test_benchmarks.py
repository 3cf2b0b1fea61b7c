"""The benchmark harness's plumbing (benchmarks/): parsing, tables, one tiny end-to-end run.

No timing is asserted: only that the harness measures what it says and writes its files.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import run as harness  # noqa: E402
import steps  # noqa: E402
import train_runs  # noqa: E402
from world_render import render_throughput  # noqa: E402

# A real line of open_clip_train 3.3.0's log (log-every-n-steps 1).
OC_LINE = (
    "2026-11-22,06:53:37 | INFO | Train Epoch: 0 [ 512/2048 (25%)] Data (t): 0.024 Batch (t): "
    "9.504, 26.9366/s, 26.9366/s/gpu LR: 0.000067 Logit Scale: 14.285 Contrastive_loss: 5.9330 "
    "(5.9723) Loss: 5.9330 (5.9723)"
)


def test_openclip_log_line_gives_step_time_and_current_loss():
    assert train_runs._OC_STEP.findall(OC_LINE) == [("9.504", "5.9330")]


def test_synthetic_batch_has_one_end_token_per_caption_and_padding_after_it():
    batch = steps.synthetic_batch(image_size=16, context_length=12, batch=5)
    texts = batch["texts"]
    assert batch["images"].shape == (5, 3, 16, 16)
    assert ((texts == 49407).sum(dim=1) == 1).all()
    end = texts.argmax(dim=1)  # the text tower pools at the highest token id
    after = torch.arange(12)[None, :] > end[:, None]
    assert (texts[after] == 0).all() and (texts[~after] > 0).all()


def test_report_markdown_lists_rows_and_flags_missed_targets():
    rep = harness.Report()
    rep.row("train", "cyclip clip fp32", [3.0, 1.0, 2.0], "samples/s")
    rep.target("ratio", 0.9, ">= 1.1", False, "how")
    text = rep.markdown("# h")
    assert "| train | cyclip clip fp32 | 2 | 1 | 3 | 3 | samples/s |" in text
    assert "| ratio | 0.9 | >= 1.1 | **no** | how |" in text


def test_interleaved_step_times_alternate_variants():
    calls: list[str] = []
    times = steps.interleaved_step_times(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        steps=2,
        warmup=1,
        sync=lambda: None,
    )
    assert calls == ["a", "b"] * 3
    assert [len(v) for v in times.values()] == [2, 2]


@pytest.mark.slow
def test_quick_harness_writes_table_and_json(tmp_path):
    out = tmp_path / "out"
    sections = ["steps", "precision", "cuda"]
    code = harness.main(
        ["--out", str(out), "--quick", "--model", "cyclip-tiny", "--sections", *sections]
    )
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    assert not [n for n in data["notes"] if "failed" in n]
    assert {t["target"] for t in data["targets"]} >= {
        "2. CyCLIP / CLIP step time, fp32",
        "4. bf16 loss curve vs fp32: largest gap / seed-to-seed gap",
    }
    curves = data["precision"]["curves"]
    assert set(curves) == {"fp32 seed 0", "bf16 seed 0", "fp32 seed 1"}
    assert all(len(c) == 8 for c in curves.values())
    assert all(r["median"] > 0 for r in data["rows"])
    assert "| steps |" in (out / "results.md").read_text()


def test_render_throughput_is_reported():
    rate = render_throughput(n=200, size=64)
    assert rate > 200  # items per second; thousands on a normal core


# ---------------------------------------------------------------- the GPU check (benchmarks/gpu.sh)


def _gpu_check():
    return importlib.import_module("gpu_check")


def test_gpu_check_pieces_run_on_the_cpu(tmp_path):
    """The fast part of the GPU check's CPU mode: FLOP count and extraction vs forward."""
    import argparse

    from cyclip.world.export import export_task

    gpu_check = _gpu_check()
    flops = gpu_check.train_flops_per_sample("cyclip-tiny", None, "cpu")
    assert 1e6 < flops < 1e9  # cyclip-tiny: ~20 MFLOP per pair, forward + backward
    export_task("shapes/pretrain", tmp_path / "data", limit=16)
    a = argparse.Namespace(model="cyclip-tiny", device="cpu", batch=8, workers=0, extract_images=16)
    rates = gpu_check.extraction(a, tmp_path / "data" / "pairs.csv")
    assert set(rates) == {"extraction", "forward only"} and all(v > 0 for v in rates.values())
    with pytest.raises(RuntimeError, match="finite"):
        gpu_check.check_losses("run", [1.0, float("nan")], 2)
    assert gpu_check.steady_rate([9.0, 1.0, 0.5, 1.0], batch=8, skip=1) == 8.0


def test_gpu_check_refuses_cuda_where_there_is_none(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    assert _gpu_check().main(["--work", str(tmp_path)]) == 2


@pytest.mark.slow
def test_gpu_check_cpu_smoke_end_to_end(tmp_path):
    """benchmarks/gpu.sh --cpu-smoke: both trainers, the CyCLIP run and extraction, tiny."""
    if importlib.util.find_spec("pandas") is None:
        pytest.skip("open_clip_train needs pandas (pip install '.[bench]')")
    done = subprocess.run(
        ["bash", str(BENCH / "gpu.sh"), "--cpu-smoke"],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "cyclip / open_clip_train:" in done.stdout and "all steps passed" in done.stdout
