"""Read a run directory: resolved config, training metrics, evaluation results.

The layout is :class:`cyclip.rundir.RunDir`'s (``config.yaml``, ``metrics.jsonl``, ``eval/*.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cyclip.evaluation.schema import read_result
from cyclip.rundir import RunDir

LOSS_TERMS = ("loss", "contrastive_loss", "inmodal_cyclic_loss", "crossmodal_cyclic_loss")


@dataclass
class Run:
    """Everything the report needs from one run directory."""

    path: Path
    name: str
    config: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    """Training log lines (those without an "eval" key), in file order."""
    periodic_evals: list[dict] = field(default_factory=list)
    """``{"step", "eval": {...}}`` lines."""
    results: list[dict] = field(default_factory=list)
    """Evaluation result documents from ``RUN_DIR/eval``."""
    problems: list[str] = field(default_factory=list)
    """Unreadable lines or files, reported in the report rather than failing it."""

    def result(self, task: str, dataset_name: str) -> dict | None:
        """The result of ``task`` on the dataset called ``dataset_name``, if present."""
        for r in self.results:
            if r["task"] == task and r["dataset"].get("name") == dataset_name:
                return r
        return None

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of a logged training quantity, skipping lines without it."""
        xs, ys = [], []
        for line in self.steps:
            value = line.get(key)
            if isinstance(value, (int, float)) and "step" in line:
                xs.append(float(line["step"]))
                ys.append(float(value))
        return xs, ys

    def describe(self) -> str:
        """One line about the run's objective, from its config (λ values) when known."""
        loss = self.config.get("loss", {}) if isinstance(self.config.get("loss"), dict) else {}
        lam_in = loss.get("lambda_inmodal", self.config.get("lambda_inmodal"))
        lam_cross = loss.get("lambda_crossmodal", self.config.get("lambda_crossmodal"))
        model = self.config.get("model", {})
        model_name = model.get("name") if isinstance(model, dict) else model
        parts = []
        if model_name:
            parts.append(str(model_name))
        if loss.get("name"):
            parts.append(str(loss["name"]))
        if lam_in is not None or lam_cross is not None:
            parts.append(f"λ_in={lam_in}, λ_cross={lam_cross}")
        if (lam_in or lam_cross) and loss.get("normalization"):
            parts.append(f"{loss['normalization']} normalisation")
        if self.steps:
            parts.append(f"{int(self.steps[-1].get('step', 0))} steps")
        return ", ".join(parts)


def _read_jsonl(path: Path, run: Run) -> None:
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            text = text.strip()
            if not text:
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                # A run killed mid-write leaves a partial last line; keep everything before it.
                run.problems.append(f"{path.name}:{number}: not valid JSON, skipped")
                continue
            if not isinstance(line, dict):
                run.problems.append(f"{path.name}:{number}: not a JSON object, skipped")
            elif "eval" in line:
                run.periodic_evals.append(line)
            else:
                run.steps.append(line)


def load_run(path: str | os.PathLike, name: str | None = None) -> Run:
    """Read a run directory; missing parts are simply absent, unreadable ones are listed in
    ``Run.problems``.

    Raises:
        NotADirectoryError: ``path`` is not a directory.
    """
    path = Path(path)
    if not path.is_dir():
        raise NotADirectoryError(f"run directory not found: {path}")
    run = Run(path=path, name=name or path.resolve().name)
    layout = RunDir(path)
    config_path = layout.config
    if config_path.is_file():
        try:
            loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
            run.config = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError as exc:
            run.problems.append(f"{config_path.name}: {exc}")
    if layout.metrics.is_file():
        _read_jsonl(layout.metrics, run)
    eval_dir = layout.eval
    if eval_dir.is_dir():
        for result_path in sorted(eval_dir.glob("*.json")):
            try:
                run.results.append(read_result(result_path))
            except (ValueError, OSError) as exc:
                run.problems.append(str(exc))
    return run


def unique_names(paths: list[Path]) -> list[str]:
    """Directory names, prefixed by their parent where two runs share a name."""
    names = [p.resolve().name for p in paths]
    return [
        f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)
    ]
