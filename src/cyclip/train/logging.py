"""Where training metrics go: ``metrics.jsonl``, TensorBoard, W&B, and the console.

The console gets a progress bar on a terminal; without one (``progress=False``, or stderr
redirected to a file, where a bar would write a carriage-return update per step) it gets one line
per logging step instead. Only the main process logs; the other ranks get a
:class:`MetricsLogger` with every sink disabled (``run_dir=None``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cyclip.rundir import RunDir

# Shown in the progress bar, in this order, when present.
_BAR_KEYS = (
    ("loss", "loss"),
    ("contrastive_loss", "clip"),
    ("inmodal_cyclic_loss", "in"),
    ("crossmodal_cyclic_loss", "cross"),
    ("sentence_loss", "sent"),
    ("lr", "lr"),
    ("logit_scale", "scale"),
    ("samples_per_s", "smp/s"),
    ("epoch_skipped", "skipped"),
)


def format_step_line(metrics: Mapping[str, Any], total_steps: int) -> str:
    """``step 20/100  loss 2.5 (clip 2, in 0.3, cross 0.2)  lr 2.50e-04  123 samples/s``."""
    parts = [f"step {metrics['step']}/{total_steps}"]
    if "loss" in metrics:
        terms = [
            f"{short} {metrics[key]:.4g}"
            for key, short in _BAR_KEYS[1:5]
            if isinstance(metrics.get(key), int | float)
        ]
        loss = f"loss {metrics['loss']:.4g}"
        parts.append(f"{loss} ({', '.join(terms)})" if terms else loss)
    if "lr" in metrics:
        parts.append(f"lr {metrics['lr']:.2e}")
    if "samples_per_s" in metrics:
        parts.append(f"{metrics['samples_per_s']:.0f} samples/s")
    if metrics.get("epoch_skipped"):
        parts.append(f"{metrics['epoch_skipped']} skipped")
    return "  ".join(parts)


_EVAL_HEADLINES = ("zero_shot/top1", "mean_recall", "spearman", "accuracy")


def format_eval_line(step: int, flat: Mapping[str, float], shown: int = 6) -> str:
    """``eval @ step 20 (14.2s): shapes/shape/test/zero_shot/top1=31, ... (+52 in metrics.jsonl)``:
    headline metrics first (top-1, mean recall, validation loss), at most ``shown``."""
    seconds = flat.get("eval_seconds")
    values = {k: v for k, v in flat.items() if k != "eval_seconds"}
    first = [k for k in values if "/" not in k or k.endswith(_EVAL_HEADLINES)]
    keys = (first + [k for k in values if k not in first])[:shown]
    when = f" ({format_duration(seconds)})" if seconds is not None else ""
    text = ", ".join(f"{k}={values[k]:.4g}" for k in keys)
    rest = len(values) - len(keys)
    return f"eval @ step {step}{when}: {text}" + (f" (+{rest} in metrics.jsonl)" if rest else "")


def format_duration(seconds: float) -> str:
    """``12.3s``, ``3m12s``, ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def wandb_installed() -> bool:
    """Whether the ``wandb`` package can be imported (without importing it)."""
    return importlib.util.find_spec("wandb") is not None


def _json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: write them as strings so every line parses with ``json.loads``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def truncate_metrics(path: Path, after_step: int) -> None:
    """Drop the lines of ``metrics.jsonl`` logged after ``after_step``.

    On resume, steps past the checkpoint were logged by the interrupted run and are about to be
    logged again; keeping both would draw two curves.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            step = json.loads(line).get("step", 0)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
        if step <= after_step:
            kept.append(line)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text("".join(f"{line}\n" for line in kept))
    os.replace(tmp, path)


class MetricsLogger:
    """Writes metrics to every enabled sink.

    Args:
        run_dir: the run directory (``metrics.jsonl`` and ``tensorboard/`` go there); None
            disables the file sinks (non-main ranks).
        tensorboard: write TensorBoard event files.
        wandb: log to Weights & Biases (must be installed).
        wandb_project, run_name, config: W&B run identity.
        total_steps, initial_step: for the progress bar and the step lines.
        progress: show a tqdm progress bar when stderr is a terminal; otherwise (and with
            False) print one line per logged step.
    """

    def __init__(
        self,
        run_dir: Path | None,
        *,
        tensorboard: bool = True,
        wandb: bool = False,
        wandb_project: str = "cyclip",
        run_name: str = "",
        config: Mapping[str, Any] | None = None,
        total_steps: int = 0,
        initial_step: int = 0,
        progress: bool = True,
    ) -> None:
        self.run_dir = run_dir
        self._jsonl = None
        self._tb = None
        self._wandb = None
        self._bar = None
        self.total_steps = total_steps
        if run_dir is None:
            return
        metrics_path = RunDir(run_dir).metrics
        truncate_metrics(metrics_path, initial_step)
        self._jsonl = open(metrics_path, "a", encoding="utf-8")  # closed in close()
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a killed run logged past the checkpoint we resume from.
            self._tb = SummaryWriter(
                str(RunDir(run_dir).tensorboard),
                purge_step=initial_step + 1 if initial_step else None,
            )
        if wandb:
            import wandb as wandb_lib

            self._wandb = wandb_lib.init(
                project=wandb_project,
                name=run_name,
                id=run_name,
                resume="allow",
                config=dict(config or {}),
                dir=str(run_dir),
            )
        if progress and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True
            )

    def log_train(self, metrics: Mapping[str, Any]) -> None:
        """One training line: ``{"step", "epoch", "samples", "lr", "loss", ...}``."""
        step = int(metrics["step"])
        self._write_jsonl(metrics)
        if self._bar is None and self.run_dir is not None:
            print(format_step_line(metrics, self.total_steps), flush=True)
        scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float) and k != "step"}
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(f"train/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log({f"train/{k}": v for k, v in scalars.items()}, step=step)

    def log_eval(
        self, step: int, metrics: Mapping[str, Any], *, failed: Mapping[str, str] | None = None
    ) -> None:
        """One evaluation line: ``{"step", "eval": {...}}``, with ``"failed": {part: cause}``
        when parts of the evaluation failed."""
        record: dict[str, Any] = {"step": step, "eval": dict(metrics)}
        if failed:
            record["failed"] = dict(failed)
        self._write_jsonl(record)
        flat = _flatten(metrics)
        if self._tb is not None:
            for key, value in flat.items():
                self._tb.add_scalar(f"eval/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log({f"eval/{k}": v for k, v in flat.items()}, step=step)
        self.message(format_eval_line(step, flat))

    def advance(self, steps: int, metrics: Mapping[str, Any] | None = None) -> None:
        """Move the progress bar; refresh its postfix when ``metrics`` are given."""
        if self._bar is None:
            return
        if metrics is not None:
            post = {}
            for key, short in _BAR_KEYS:
                if key in metrics:
                    value = metrics[key]
                    post[short] = f"{value:.3g}" if isinstance(value, float) else value
            self._bar.set_postfix(post, refresh=False)
        self._bar.update(steps)

    def message(self, text: str) -> None:
        """A line for the user, printed above the progress bar (main process only)."""
        if self.run_dir is None:
            return
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def _write_jsonl(self, record: Mapping[str, Any]) -> None:
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(_json_safe(record)) + "\n")
            self._jsonl.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested numeric metrics as ``{"a/b": value}``; non-numbers are left out."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


class ThroughputMeter:
    """Samples per second over a window of steps, excluding time spent in evaluation and
    checkpointing (which :meth:`pause` subtracts) but including waiting for data."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0
        self.samples = 0

    def add(self, samples: int) -> None:
        self.samples += samples

    def pause(self, seconds: float) -> None:
        self.paused += seconds

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start - self.paused
        return self.samples / max(elapsed, 1e-9)
