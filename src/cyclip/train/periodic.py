"""Evaluation during training: what ``--run.eval-every`` and ``--run.eval-suite`` run, and how.

``--run.eval-suite`` is a list of entries (:attr:`RunConfig.eval_suite`)::

    quick                        the builtin quick suite (QUICK_SUITE: seconds on a CPU)
    builtin                      the whole builtin suite (every protocol and shift)
    TASK=DATA[,KEY=VALUE...]     any registered ``cyclip eval`` task on its data

``KEY`` is one of the data options of ``cyclip eval`` (``train-data``, ``classnames``,
``templates``, ``superclasses``, ``images``) or else a task option (``--option KEY=VALUE``)::

    --run.eval-suite quick zeroshot=data/cifar10,classnames=names.txt sts=data/sts,split=test

The entries are checked by :func:`eval_suite_problems` with the rest of the config (no I/O) and
their data is opened by :func:`open_eval_suite` before the model is built, so an unknown task or
unreadable data stops the run before it trains.

:class:`PeriodicEvaluation` runs the evaluation parts (validation loss, suite entries, a Python
``eval_fn``) on the main process with the unwrapped model in eval mode, under saved RNG states
(an evaluation draws nothing from the training stream) and without the feature cache (the
weights move). Each part fails alone: its failure is reported in one line (again only when the
cause changes; repeats are counted) and training goes on, unless ``--run.eval-fail-fast``. The
other ranks wait in :meth:`PeriodicEvaluation.wait` on a process group of their own whose
timeout is ``--run.eval-timeout``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from cyclip import distributed as dist
from cyclip.train.config_file import ConfigError
from cyclip.train.guards import TrainingError
from cyclip.train.rng import capture_rng_state, restore_rng_state

if TYPE_CHECKING:
    from cyclip.data.timeouts import LoaderTimeouts
    from cyclip.evaluation.registry import TaskRequest
    from cyclip.models import ModelBundle

FLAG = "--run.eval-suite"
SUITE_NAMES = ("quick", "builtin")
REQUEST_KEYS = {
    "train-data": "train_data",
    "classnames": "classnames",
    "templates": "templates",
    "superclasses": "superclasses",
    "images": "images",
}
"""Entry keys that fill a :class:`TaskRequest` field; any other key is a task option."""
_PATH_FIELDS = ("classnames", "templates", "superclasses", "images")
SYNTAX = "quick, builtin or TASK=DATA[,KEY=VALUE...] (e.g. zeroshot=path/to/imagefolder)"


@dataclass(frozen=True)
class EvalEntry:
    """One parsed ``--run.eval-suite`` entry: a builtin suite or a task with its request."""

    text: str
    """As the user wrote it (its label in messages)."""
    suite: str | None = None
    """``quick`` or ``builtin``; None for a task entry."""
    task: str | None = None
    request: TaskRequest | None = None


def parse_entry(text: str) -> EvalEntry:
    """Parse one entry (no I/O: the data is opened by :func:`open_eval_suite`).

    Raises:
        ValueError: bad syntax, an unknown task, or an option the task does not take.
    """
    import cyclip.evaluation  # noqa: F401  (registers the tasks)
    from cyclip.evaluation.registry import TASKS, TaskRequest, get_task

    text = text.strip()
    if text in SUITE_NAMES:
        return EvalEntry(text, suite=text)
    name, sep, rest = text.partition("=")
    data, *pairs = rest.split(",")
    if not sep and name in TASKS:
        raise ValueError(f"task {name} needs its data: {name}=DATA")
    if not sep or not name.strip() or not data.strip():
        raise ValueError(f"expected {SYNTAX}")
    task = get_task(name.strip())
    if not task.cli:
        raise ValueError(f"task {task.name!r} is not run on its own data ({task.summary})")
    fields: dict[str, Any] = {}
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"{pair.strip()!r}: expected KEY=VALUE after the data")
        attr = REQUEST_KEYS.get(key.replace("_", "-"))
        target: dict[str, Any] = options if attr is None else fields
        slot = key if attr is None else attr
        if slot in target:
            raise ValueError(f"{key} is given twice")
        target[slot] = Path(value) if attr in _PATH_FIELDS else value
    request = TaskRequest(data=data.strip(), options=options, **fields)
    extra = sorted(set(request.given()) - set(task.accepts))
    if extra:
        given = [k for k, v in REQUEST_KEYS.items() if v in extra]
        if "options" in extra:
            given += [f"{k} (a task option)" for k in options]
        takes = [k for k, v in REQUEST_KEYS.items() if v in task.accepts]
        if "options" in task.accepts:
            takes.append("task options")
        raise ValueError(
            f"{', '.join(given)} do(es) not apply to task {task.name} "
            f"(it takes: {', '.join(takes) or 'nothing beyond the data'})"
        )
    return EvalEntry(text, task=task.name, request=request)


def eval_suite_problems(entries: Sequence[str]) -> list[str]:
    """One line per bad entry of ``--run.eval-suite`` (for :func:`validate`); no I/O."""
    problems, seen = [], set()
    for text in entries:
        if text.strip() in seen:
            problems.append(f"{FLAG} {text}: given twice")
            continue
        seen.add(text.strip())
        try:
            parse_entry(text)
        except ValueError as exc:
            problems.append(f"{FLAG} {text}: {exc}")
    return problems


@dataclass(frozen=True)
class OpenedEntry:
    """An entry with its data opened: a builtin suite's config, or a task's :class:`TaskRun`."""

    entry: EvalEntry
    plan: Any
    """A ``SuiteConfig`` or ``[TaskRun]``: what :func:`cyclip.evaluation.evaluate_model` takes."""


def open_eval_suite(entries: Sequence[str]) -> list[OpenedEntry]:
    """Parse every entry and open its data, before any model is built.

    Raises:
        ConfigError: every problem (bad entry, unreadable data), one line each.
    """
    from cyclip.evaluation import QUICK_SUITE, SuiteConfig, open_task

    suites = {"quick": QUICK_SUITE, "builtin": SuiteConfig()}
    opened, problems = [], eval_suite_problems(entries)
    if problems:
        raise ConfigError("\n".join(problems))
    for text in entries:
        entry = parse_entry(text)
        if entry.suite is not None:
            opened.append(OpenedEntry(entry, suites[entry.suite]))
            continue
        assert entry.task is not None and entry.request is not None
        try:
            opened.append(OpenedEntry(entry, [open_task(entry.task, entry.request)]))
        except (ValueError, OSError) as exc:  # FileNotFoundError, unreadable files, bad formats
            problems.append(f"{FLAG} {text}: {str(exc).strip() or type(exc).__name__}")
    if problems:
        raise ConfigError("\n".join(problems))
    return opened


def result_metrics(results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Result documents as ``{"<task>/<dataset>/<group>/<metric>": value}`` (numbers only)."""
    flat = {}
    for result in results:
        prefix = f"{result['task']}/{result['dataset']['name']}"
        for group, values in result["metrics"].items():
            for metric, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    flat[f"{prefix}/{group}/{metric}"] = float(value)
    return flat


@dataclass(frozen=True)
class EvalPart:
    """One thing evaluated periodically: ``run(model, step) -> {metric: value}``."""

    label: str
    run: Callable[[nn.Module, int], Mapping[str, Any]]


def suite_part(
    opened: OpenedEntry, bundle: ModelBundle, timeouts: LoaderTimeouts | None = None
) -> EvalPart:
    """Evaluate ``opened``'s plan with ``bundle``'s eval transform and tokenizer, on whatever
    model is passed (where it is), without the feature cache; ``timeouts``: the training data's
    read and worker limits (their errors name the ``--data.`` options)."""
    from cyclip.evaluation import evaluate_model
    from cyclip.evaluation.suite import PERIODIC_EXTRACT

    base = PERIODIC_EXTRACT if timeouts is None else PERIODIC_EXTRACT.with_timeouts(timeouts)

    def run(model: nn.Module, step: int) -> dict[str, float]:
        device = next(model.parameters()).device
        extract = dataclasses.replace(base, device=str(device))
        evaluation = evaluate_model(
            bundle._replace(model=model), opened.plan, extract=extract, cache=None
        )
        return result_metrics(list(evaluation.results.values()))

    return EvalPart(opened.entry.text, run)


@dataclass
class EvalOutcome:
    """What one evaluation produced on the main process."""

    metrics: dict[str, Any] = field(default_factory=dict)
    """Every part's metrics, and ``eval_seconds`` (wall time of the whole evaluation)."""
    failed: dict[str, str] = field(default_factory=dict)
    """``{part label: "ExceptionType: message"}`` of the parts that raised."""
    messages: list[str] = field(default_factory=list)
    """Lines for the user (first failures, renamed metrics)."""


def _cause(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class PeriodicEvaluation:
    """The evaluation parts of a run, run together on the main process; see the module doc.

    Build it on every rank (creating the wait group is a collective).

    Args:
        parts: what to evaluate, in order; empty: nothing is evaluated.
        fail_fast: a failing part stops the run (every rank raises :class:`TrainingError`).
        timeout_s: how long the other ranks wait for one evaluation.
    """

    def __init__(self, parts: Sequence[EvalPart], *, fail_fast: bool, timeout_s: float) -> None:
        self.parts = list(parts)
        self.fail_fast = fail_fast
        self.timeout_s = timeout_s
        self.group = dist.new_wait_group(timeout_s) if self.parts else None
        self.evaluations = 0
        self.failures: dict[str, tuple[int, str]] = {}
        """``{label: (times failed, last cause)}``."""
        self._renamed: set[tuple[str, str]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.parts)

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.parts]

    def evaluate(self, model: nn.Module, step: int) -> EvalOutcome:
        """Run every part on ``model`` (in eval mode, restored after); main process only."""
        out = EvalOutcome()
        owner: dict[str, str] = {}
        start = time.perf_counter()
        was_training = model.training
        rng = capture_rng_state()
        model.eval()
        try:
            for index, part in enumerate(self.parts, start=1):
                try:
                    values = part.run(model, step)
                except Exception as exc:  # noqa: BLE001  (one part's failure must not stop the run)
                    out.failed[part.label] = cause = _cause(exc)
                    self._record_failure(part.label, cause, step, out)
                    if self.fail_fast:
                        break
                    continue
                for key, value in values.items():
                    if key in owner and owner[key] != part.label:
                        key = self._rename(key, index, part.label, owner[key], out)
                    owner[key] = part.label
                    out.metrics[key] = value
        finally:
            model.train(was_training)
            restore_rng_state(rng)
        out.metrics["eval_seconds"] = time.perf_counter() - start
        self.evaluations += 1
        return out

    def _record_failure(self, label: str, cause: str, step: int, out: EvalOutcome) -> None:
        count, last = self.failures.get(label, (0, ""))
        self.failures[label] = (count + 1, cause)
        if cause != last and not self.fail_fast:
            out.messages.append(
                f"eval @ step {step}: {label} failed ({cause}); training goes on "
                "(--run.eval-fail-fast stops the run instead; the same failure again is only "
                "counted, in metrics.jsonl 'failed')"
            )

    def _rename(self, key: str, index: int, label: str, other: str, out: EvalOutcome) -> str:
        if (label, other) not in self._renamed:
            self._renamed.add((label, other))
            out.messages.append(
                f"eval: {label} and {other} log metrics of the same names; {label}'s get the "
                f"suffix @{index} (its position in {FLAG})"
            )
        return f"{key}@{index}"

    def wait(self, outcome: EvalOutcome | None, step: int) -> None:
        """Every rank, after the main process's :meth:`evaluate` (``outcome`` there, None on
        the others): the other ranks wait for it.

        Raises:
            TrainingError: with ``fail_fast``, on every rank when a part failed; on a rank that
                waited longer than ``timeout_s``.
        """
        failed = outcome.failed if outcome is not None else None
        try:
            failed = dist.wait_for_main(
                failed, self.group, timeout_s=self.timeout_s, what=f"the evaluation of step {step}"
            )
        except dist.WaitTimeout as exc:
            raise TrainingError(str(exc)) from exc
        if self.fail_fast and failed:
            label, cause = next(iter(failed.items()))  # type: ignore[attr-defined]
            raise TrainingError(
                f"the evaluation of step {step} failed: {label}: {cause} (--run.eval-fail-fast; "
                "without it the failure is reported and training goes on)"
            )

    def summary(self) -> list[str]:
        """End-of-run lines for the parts that failed."""
        return [
            f"eval: {label} failed at {count} of {self.evaluations} evaluation(s); last cause: "
            f"{cause}"
            for label, (count, cause) in self.failures.items()
        ]


def build_periodic_evaluation(
    cfg_run: Any,
    suite: Sequence[OpenedEntry],
    bundle: ModelBundle,
    *,
    validation: Callable[[nn.Module], Mapping[str, Any]] | None,
    eval_fn: Callable[[nn.Module, int], Mapping[str, Any]] | None,
    timeouts: LoaderTimeouts | None = None,
) -> PeriodicEvaluation:
    """The run's evaluation: validation loss, then the suite entries (read under
    ``timeouts``), then ``eval_fn``."""
    parts = []
    if validation is not None:
        parts.append(EvalPart("validation loss", lambda model, step: validation(model)))
    parts += [suite_part(opened, bundle, timeouts) for opened in suite]
    if eval_fn is not None:
        parts.append(EvalPart("eval_fn", eval_fn))
    return PeriodicEvaluation(
        parts, fail_fast=cfg_run.eval_fail_fast, timeout_s=cfg_run.eval_timeout
    )


def evaluated_at(metrics_path: Path, step: int) -> bool:
    """Whether ``metrics.jsonl`` holds an evaluation line of ``step`` (resume: not again)."""
    if not metrics_path.is_file():
        return False
    for text in metrics_path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and "eval" in line and line.get("step") == step:
            return True
    return False
