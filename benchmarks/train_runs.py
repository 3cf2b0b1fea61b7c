"""End-to-end training throughput: ``cyclip train`` vs open_clip's own trainer, same settings.

Both run as subprocesses on the same CSV of JPEGs, same model config, batch size, precision,
data workers, learning-rate schedule and seed, for one epoch of ``steps`` batches. Each logs every
step: cyclip's ``metrics.jsonl`` (``samples_per_s`` of the step, data wait included) and
open_clip's ``Batch (t)`` line (wall time of the step, data wait included). The steady-state rate
is ``batch / median(step time)`` over the steps after ``skip`` warm-up steps.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cyclip.rundir import RunDir

HERE = Path(__file__).resolve().parent
CYCLIP = [sys.executable, "-m", "cyclip", "train"]
OPENCLIP = [sys.executable, str(HERE / "openclip_train.py")]
OPENCLIP_PRECISION = {"fp32": "fp32", "bf16": "amp_bf16"}
_OC_STEP = re.compile(r"Batch \(t\): ([0-9.]+),.*?Loss: ([0-9.]+) \(")


@dataclass(frozen=True)
class TrainRun:
    trainer: str  # "cyclip" | "open_clip"
    precision: str  # "fp32" | "bf16"
    loss: str = "clip"  # "clip" | "cyclip" (cyclip trainer only)
    compiled: bool = False  # torch.compile: --model.torch-compile / --torchcompile

    @property
    def name(self) -> str:
        loss = "" if self.trainer == "open_clip" else f" {self.loss}"
        return f"{self.trainer}{loss} {self.precision}{' compiled' if self.compiled else ''}"


def export_csv(folder: Path, n: int) -> Path:
    """``n`` pairs of the builtin world as JPEGs + CSV (reused when already there)."""
    csv = folder / "pairs.csv"
    if csv.is_file() and sum(1 for _ in csv.open()) == n + 1:
        return csv
    shutil.rmtree(folder, ignore_errors=True)
    from cyclip.world.export import export_task

    export_task("shapes/pretrain", folder, limit=n)
    return csv


def run_once(
    run: TrainRun, csv: Path, work: Path, *, model: str, batch: int, workers: int, tag: str
) -> dict:
    """One training subprocess; returns per-step seconds and losses."""
    out_dir = work / f"{run.trainer}-{run.loss}-{run.precision}{'-compiled' * run.compiled}-{tag}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if run.trainer == "cyclip":
        extra = [
            "--loss.normalization", "mean",
            "--optim.epochs", "1",
            *(["--model.torch-compile"] if run.compiled else []),
        ]  # fmt: skip
        rows = cyclip_train(
            out_dir, str(csv), model=model, batch=batch, workers=workers, loss=run.loss,
            precision=run.precision, extra=extra,
        )  # fmt: skip
        step_s = [batch / r["samples_per_s"] for r in rows]
        losses = [r["loss"] for r in rows]
    else:
        cmd = [
            *OPENCLIP,
            "--model", model,
            "--train-data", str(csv),
            "--dataset-type", "csv",
            "--csv-separator", ",",
            "--csv-img-key", "filepath",
            "--csv-caption-key", "title",
            "--batch-size", str(batch),
            "--workers", str(workers),
            "--epochs", "1",
            "--lr", "1e-3",
            "--warmup", "30",
            "--precision", OPENCLIP_PRECISION[run.precision],
            "--logs", str(out_dir),
            "--name", "run",
            "--log-every-n-steps", "1",
            "--report-to", "none",
            "--save-frequency", "0",
            "--seed", "0",
            *(["--torchcompile"] if run.compiled else []),
        ]  # fmt: skip
        # The CSV holds paths relative to its folder; open_clip opens them relative to the cwd.
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=csv.parent)
        _check(proc, cmd)
        matches = _OC_STEP.findall(proc.stdout + proc.stderr)
        step_s = [float(t) for t, _ in matches]
        losses = [float(v) for _, v in matches]
    return {"step_s": step_s, "loss": losses}


def _check(proc: subprocess.CompletedProcess, cmd: list[str]) -> None:
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")


def compare(
    runs: list[TrainRun],
    csv: Path,
    work: Path,
    *,
    model: str,
    batch: int,
    workers: int,
    reps: int,
    skip: int,
    log=print,
) -> dict[str, dict]:
    """Each run ``reps`` times, interleaved (A B C A B C ...); per repetition the steady-state
    samples/s; returns name -> ``{"samples_per_s": [per rep], "best_samples_per_s": [per rep],
    "loss": first rep's curve}``."""
    results: dict[str, dict] = {
        r.name: {"samples_per_s": [], "best_samples_per_s": [], "loss": None} for r in runs
    }
    for rep in range(reps):
        for run in runs:
            got = run_once(run, csv, work, model=model, batch=batch, workers=workers, tag=str(rep))
            steady = got["step_s"][skip:]
            if not steady:
                raise RuntimeError(f"{run.name}: {len(got['step_s'])} steps, none after {skip}")
            rate = batch / statistics.median(steady)
            results[run.name]["samples_per_s"].append(rate)
            # On a shared machine step times are bimodal (contended or not): the fastest step
            # estimates the uncontended speed.
            results[run.name]["best_samples_per_s"].append(batch / min(steady))
            results[run.name]["loss"] = results[run.name]["loss"] or got["loss"]
            log(f"  {run.name:<22} rep {rep}: {rate:7.1f} samples/s ({len(steady)} steps)")
    return results


def loss_curve(
    precision: str, seed: int, work: Path, *, model: str, batch: int, workers: int, steps: int
) -> list[float]:
    """Per-step training loss of ``cyclip train`` (CLIP loss) on the builtin world."""
    out_dir = work / f"curve-{precision}-seed{seed}"
    shutil.rmtree(out_dir, ignore_errors=True)
    extra = [
        "--data.val-data", "None",
        "--optim.max-steps", str(steps),
        "--run.seed", str(seed),
        "--run.checkpoint-every", "0",
    ]  # fmt: skip
    rows = cyclip_train(
        out_dir, "builtin:shapes/pretrain", model=model, batch=batch, workers=workers,
        loss="clip", precision=precision, extra=extra,
    )  # fmt: skip
    return [r["loss"] for r in rows]


def cyclip_train(
    out_dir: Path,
    data: str,
    *,
    model: str,
    batch: int,
    workers: int,
    loss: str,
    precision: str,
    extra: list[str],
) -> list[dict]:
    """Run ``cyclip train`` into ``out_dir/run`` (lr 1e-3, 30 warm-up steps, a metrics line every
    step) with ``extra`` flags; returns the metrics lines of the training steps."""
    cmd = [
        *CYCLIP,
        "--model.name", model,
        "--data.train-data", data,
        "--data.batch-size", str(batch),
        "--data.workers", str(workers),
        "--loss.name", loss,
        "--optim.lr", "1e-3",
        "--optim.warmup-steps", "30",
        "--optim.precision", precision,
        "--run.output-dir", str(out_dir),
        "--run.name", "run",
        "--run.log-every", "1",
        "--run.no-progress",
        "--run.no-tensorboard",
        *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    _check(proc, cmd)
    rows = [json.loads(line) for line in RunDir(out_dir / "run").metrics.open()]
    return [r for r in rows if "samples_per_s" in r]
