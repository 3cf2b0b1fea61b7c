"""The evaluation-task registry: one entry per ``cyclip eval --task NAME``.

A task says how to open its data from what the user gave (:class:`TaskRequest`, before any
model is loaded, so a bad path fails in a second) and how to turn opened data into one result
document with an :class:`~cyclip.evaluation.run.Evaluator`. Adding a task is one
:func:`register_task` call (and, for the report, one entry in ``cyclip.report.sections``)::

    register_task(Task(
        name="mytask",
        summary="what it measures, on which data",
        open=lambda request: {"data": open_my_source(request.data)},
        evaluate=lambda evaluator, opened: my_protocol(evaluator, opened["data"]),
    ))

The built-in tasks are registered by :mod:`cyclip.evaluation.tasks`, which the package imports.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyclip.evaluation.run import Evaluator


@dataclass(frozen=True)
class TaskRequest:
    """What the user asked to evaluate on: the data options of ``cyclip eval``, task-agnostic.

    A task reads the fields it needs and refuses (``ValueError``) the ones it cannot use.
    """

    data: str
    """Data source string: a folder / file path or ``builtin:NAME``."""
    train_data: str | None = None
    """A labelled train split (zero-shot: linear probe and consistency@k)."""
    classnames: Path | None = None
    templates: Path | None = None
    superclasses: Path | None = None
    images: Path | None = None
    """Image root for data files that name images relatively (e.g. COCO-based benchmarks)."""
    options: Mapping[str, str] = field(default_factory=dict)
    """Task-specific ``key=value`` options (``--option KEY=VALUE``), e.g. a split or format."""

    def given(self) -> dict[str, object]:
        """The optional fields the user set (for 'does not apply to this task' errors)."""
        fields = ("train_data", "classnames", "templates", "superclasses", "images")
        out: dict[str, object] = {f: getattr(self, f) for f in fields if getattr(self, f)}
        if self.options:
            out["options"] = dict(self.options)
        return out


@dataclass(frozen=True)
class Task:
    """One evaluation protocol on one kind of data.

    Args:
        name: the ``--task`` value and the result document's ``task``.
        summary: one line for ``--help`` and errors.
        open: ``TaskRequest -> opened data`` (any object the task's ``evaluate`` understands);
            raises ``ValueError`` / ``FileNotFoundError`` with a message for the user.
        evaluate: ``(Evaluator, opened data) -> result document`` (``schema.make_result``).
        accepts: the optional :class:`TaskRequest` fields this task reads; any other one the user
            sets is refused before anything runs.
        cli: whether ``cyclip eval --task`` offers it (derived tasks such as robustness, built
            from other results, are not).
        needs_images: whether the task embeds images; ``False`` lets a text-only encoder
            (``cyclip eval --text-encoder``) run it.
    """

    name: str
    summary: str
    open: Callable[[TaskRequest], Any]
    evaluate: Callable[[Evaluator, Any], dict]
    accepts: tuple[str, ...] = ()
    cli: bool = True
    needs_images: bool = True

    def open_request(self, request: TaskRequest) -> Any:
        """Check the request's optional fields against :attr:`accepts`, then open the data."""
        extra = sorted(set(request.given()) - set(self.accepts))
        if extra:
            flags = ", ".join("--" + e.replace("_", "-") for e in extra)
            allowed = ", ".join("--" + a.replace("_", "-") for a in self.accepts) or "none"
            raise ValueError(
                f"{flags} do(es) not apply to --task {self.name} (it takes: {allowed})"
            )
        return self.open(request)


TASKS: dict[str, Task] = {}
"""Registered tasks by name, in registration order."""


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS`; a second task of the same name is an error."""
    if task.name in TASKS:
        raise ValueError(f"evaluation task {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task called ``name``; the error lists the names (and the closest one)."""
    task = TASKS.get(name)
    if task is None:
        close = difflib.get_close_matches(name, list(TASKS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown evaluation task {name!r}{hint}; choose from {', '.join(cli_task_names())}"
        )
    return task


def cli_task_names() -> tuple[str, ...]:
    """Names ``cyclip eval --task`` accepts."""
    return tuple(name for name, task in TASKS.items() if task.cli)
