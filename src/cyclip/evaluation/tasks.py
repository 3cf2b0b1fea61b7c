"""The built-in evaluation tasks, registered in :data:`cyclip.evaluation.registry.TASKS`.

Each entry opens its data from a :class:`TaskRequest` and evaluates it with an
:class:`Evaluator` (protocols in docs/method.md §3). New tasks register themselves the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from cyclip.evaluation.registry import Task, TaskRequest, register_task

if TYPE_CHECKING:  # registering the tasks imports no data or model code (fast ``--help``)
    from cyclip.evaluation import sources
    from cyclip.evaluation.run import Evaluator


def _sources():
    """cyclip.evaluation.sources, imported when a task opens its data (it needs the data code)."""
    from cyclip.evaluation import sources

    return sources


def _open_classification(request: TaskRequest) -> dict[str, Any]:
    def open_source(data: str, split: str | None = None) -> sources.Source:
        return _sources().open_classification_source(
            data,
            classnames=request.classnames,
            templates=request.templates,
            superclasses=request.superclasses,
            split=split,
        )

    opened = {"data": open_source(request.data)}
    if request.train_data is not None:
        opened["train"] = open_source(request.train_data, split="train")
    return opened


def _classification(evaluator: Evaluator, opened: dict[str, Any]) -> dict:
    return evaluator.classification(opened["data"], opened.get("train"))


ZEROSHOT = register_task(
    Task(
        name="zeroshot",
        summary="labelled images: zero-shot (+ linear probe and consistency@k with "
        "--train-data, + fine vs coarse with superclasses)",
        open=_open_classification,
        evaluate=_classification,
        accepts=("train_data", "classnames", "templates", "superclasses"),
    )
)

RETRIEVAL = register_task(
    Task(
        name="retrieval",
        summary="images with captions: image <-> text Recall@k",
        open=lambda request: _sources().open_retrieval_source(request.data),
        evaluate=lambda evaluator, source: evaluator.retrieval(source),
    )
)

GEOMETRY = register_task(
    Task(
        name="geometry",
        summary="image-caption pairs: modality gap, alignment, uniformity, cyclic residuals",
        open=lambda request: _sources().open_pairs_source(request.data),
        evaluate=lambda evaluator, source: evaluator.geometry(source),
    )
)


def _open_compositional(request: TaskRequest):
    from cyclip.evaluation.compositional_sets import open_compositional

    return open_compositional(request.data, request.images)


COMPOSITIONAL = register_task(
    Task(
        name="compositional",
        summary="images with a true caption and hard negatives (SugarCrepe, ARO/CREPE-style "
        "N-caption files, Winoground groups, builtin:shapes/compositional): accuracy per "
        "category, image-text vs a text-only baseline",
        open=_open_compositional,
        evaluate=lambda evaluator, data: evaluator.compositional(data),
        accepts=("images",),
    )
)


def _open_sts(request: TaskRequest):
    from cyclip.data.sts import open_sts

    return open_sts(request.data, request.options)


def _sts(evaluator: Evaluator, data) -> dict:
    from cyclip.evaluation.sts import evaluate_sts  # scipy loads only when STS runs

    return evaluate_sts(evaluator, data)


STS = register_task(
    Task(
        name="sts",
        summary="sentence pairs with gold similarity (STS Benchmark, SICK, SentEval STS12-16, "
        "CSV, builtin:shapes/sts): Spearman / Pearson of the text tower's cosines "
        "(--option format=, split=, sentence1=, sentence2=, score=, genre=)",
        open=_open_sts,
        evaluate=_sts,
        accepts=("options",),
        needs_images=False,
    )
)


def _derived(request: TaskRequest) -> NoReturn:
    raise ValueError("robustness is derived from the builtin suite's zero-shot results")


ROBUSTNESS = register_task(
    Task(
        name="robustness",
        summary="zero-shot under distribution shift, derived from the builtin suite's results",
        open=_derived,
        evaluate=lambda evaluator, opened: _derived(opened),
        cli=False,
    )
)
