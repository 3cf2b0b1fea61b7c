"""One line per run: the compact, committed record of an experiment's runs.

The per-run folders (checkpoint, training log, one JSON per evaluation) stay out of the
repository; ``OUT/runs.jsonl`` keeps, for every run, its full training configuration, its final
logged training metrics and every evaluation metric flattened as
``"<dataset>/<group>/<metric>"`` (the keys of :func:`~cyclip.experiments.stats.collect_metrics`;
a metric that was NaN is ``null``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from cyclip.evaluation import headline_metrics
from cyclip.rundir import RunDir

RECORDS_FILE = "runs.jsonl"
RUN_PATTERNS = {"main": "runs/*", "sweep": "sweep/*/*"}
"""Where ``experiments/paper_claims.py`` puts each experiment's run folders under OUT."""


def run_record(run_dir: Path, experiment: str, root: Path) -> dict:
    """The record of one evaluated run folder (``run`` is its path relative to ``root``)."""
    run_dir = Path(run_dir)
    layout = RunDir(run_dir)
    files = sorted(layout.eval.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no evaluation results in {layout.eval}")
    results = {f.name: json.loads(f.read_text(encoding="utf-8")) for f in files}
    config = yaml.safe_load(layout.config.read_text(encoding="utf-8"))
    return {
        "experiment": experiment,
        "run": run_dir.relative_to(root).as_posix(),
        "config": config,
        "train": _nan_to_none(final_train_metrics(layout.metrics)),
        "eval": _nan_to_none(headline_metrics(results)),
    }


def _nan_to_none(values: dict) -> dict:
    """Non-finite floats as ``None`` (``null``: JSON has no NaN)."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


def final_train_metrics(path: Path) -> dict:
    """The last training line of a ``metrics.jsonl`` (periodic-eval lines are skipped)."""
    last: dict = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if "eval" not in record:
                    last = record
    return last


def find_runs(out: Path) -> list[tuple[str, Path]]:
    """``(experiment, run folder)`` for every evaluated run under ``out``, in a stable order."""
    found = []
    for experiment, pattern in RUN_PATTERNS.items():
        for run_dir in sorted(Path(out).glob(pattern)):
            if any(RunDir(run_dir).eval.glob("*.json")):
                found.append((experiment, run_dir))
    return found


def write_run_records(out: Path) -> Path:
    """Write ``out/runs.jsonl`` from the run folders under ``out``; returns its path."""
    out = Path(out)
    runs = find_runs(out)
    if not runs:
        raise FileNotFoundError(f"no evaluated run folders under {out} ({RUN_PATTERNS})")
    lines = [json.dumps(run_record(d, experiment, out), allow_nan=False) for experiment, d in runs]
    path = out / RECORDS_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_run_records(path: Path) -> list[dict]:
    """The records of a ``runs.jsonl``."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def record_metrics(record: dict) -> dict[str, float]:
    """A record's numeric evaluation metrics (what ``collect_metrics`` returns for its run)."""
    return {
        k: float(v)
        for k, v in record["eval"].items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


__all__ = [
    "RECORDS_FILE",
    "find_runs",
    "final_train_metrics",
    "read_run_records",
    "record_metrics",
    "run_record",
    "write_run_records",
]
