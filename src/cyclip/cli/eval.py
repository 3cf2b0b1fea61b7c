"""``cyclip eval``: evaluate a model with the protocols of docs/method.md §4, one JSON per run.

Examples::

    cyclip eval --checkpoint runs/a/checkpoints/latest.pt --suite builtin
    cyclip eval --checkpoint ckpt.pt --task zeroshot --data ../cifar10-test-mini
    cyclip eval --model ViT-B-32 --pretrained openai --task retrieval --data coco/
    cyclip eval --text-encoder ../shared/models/all-MiniLM-L6-v2 --task sts --data sts-test.csv
    cyclip eval --checkpoint ckpt.pt --task zeroshot --data builtin:shapes/shape/test \\
        --train-data builtin:shapes/shape/train
    cyclip eval --checkpoint ckpt.pt --task compositional --data sugar_crepe/ \\
        --images coco/val2017
    cyclip eval --checkpoint ckpt.pt --task sts --data ../shared/data/sts/stsbenchmark
    cyclip eval --checkpoint ckpt.pt --suite sts --data ../shared/data/sts

Result files follow ``cyclip.evaluation.schema.SCHEMA``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cyclip.cli.args import parse_cli
from cyclip.precision import InferencePrecision
from cyclip.rundir import RunDir

DESCRIPTION = "Evaluate a model with the protocols of docs/method.md §4; one JSON per evaluation."
DEFAULT_OUTPUT_DIR = Path("eval_results")


@dataclass(frozen=True)
class EvalArgs:
    """Evaluate a CLIP / CyCLIP model: zero-shot, linear probe, consistency@k, fine vs coarse,
    retrieval, geometry, robustness, compositionality, sentence similarity (sts). Give a model
    (--checkpoint, --model [--pretrained], or --text-encoder) and either --suite builtin,
    --suite sts with --data DIR, or --task with --data."""

    checkpoint: Path | None = None
    """cyclip checkpoint (or open_clip checkpoint / state_dict file, with --model)."""
    model: str | None = None
    """open_clip architecture name (alone: a randomly initialised model)."""
    pretrained: str | None = None
    """With --model: open_clip pretrained tag or local weights file."""
    text_encoder: str | None = None
    """A Hugging Face / sentence-transformers text encoder (local folder or hub id) rated as a
    text-only model, with the pooling its folder declares; text tasks only (--task sts)."""
    suite: Literal["builtin", "sts"] | None = None
    """builtin: the whole builtin-world suite (every protocol; one file per evaluation). sts:
    every STS set found under the --data folder (one file per set)."""
    task: str | None = None
    """An evaluation task (see 'Tasks' below): zeroshot, retrieval, geometry, ..."""
    data: str | None = None
    """Data source: a folder / file (ImageFolder, labels.csv, CIFAR pickles, COCO captions, CSV,
    webdataset) or builtin:NAME (see 'cyclip data')."""
    train_data: str | None = None
    """Labelled train images for the linear probe and consistency@k (--task zeroshot)."""
    classnames: Path | None = None
    """Class-names file (JSON/YAML/CSV/TXT) overriding the data's own."""
    templates: Path | None = None
    """Prompt-templates file ("{c}" placeholder); default: the data's own or OpenAI's 80."""
    superclasses: Path | None = None
    """Superclass map file (enables fine vs coarse)."""
    images: Path | None = None
    """Image root for data files that name their images relatively."""
    option: tuple[str, ...] = ()
    """Task-specific KEY=VALUE options (repeatable), e.g. --option split=dev."""
    linear_probe: bool = True
    """Fit the linear probe when --train-data is given (or in the suite)."""
    batch_size: int = 256
    """Images (or captions) per forward pass."""
    workers: int = 2
    """DataLoader worker processes decoding images."""
    read_timeout: float = 60.0
    """Seconds one image may take to read and decode; a longer read stops the evaluation in one
    line naming the file (a hung file system). 0 = no limit."""
    worker_timeout: float = 600.0
    """With workers: seconds to wait for a batch from them before stopping (a stuck worker).
    0 = no limit."""
    device: str = "auto"
    """'auto' (cuda if available, else cpu), 'cpu', 'cuda', 'cuda:1', ..."""
    precision: InferencePrecision = "auto"
    """auto: bf16 autocast where the device computes bf16 natively, else fp32; or fp32 / bf16.
    Features and scores are fp32 either way."""
    cache_dir: Path | None = None
    """Feature cache (default: $CYCLIP_CACHE or ~/.cache/cyclip/features)."""
    cache: bool = True
    """Reuse / store extracted features."""
    output_dir: Path | None = None
    """Where result JSONs go (default: RUN_DIR/eval for a checkpoint in a run dir, else
    ./eval_results)."""


class UsageError(ValueError):
    """Invalid command-line input: reported in one line, exit code 2."""


def _check(args: EvalArgs) -> None:
    if args.task is not None and args.task not in _task_names():
        import difflib

        close = difflib.get_close_matches(args.task, _task_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"--task {args.task!r}: invalid choice{hint}; choose from {', '.join(_task_names())}"
        )
    if args.text_encoder is not None:
        _check_text_encoder(args)
    elif args.checkpoint is None and args.model is None:
        raise UsageError(
            "nothing to evaluate: pass --checkpoint PATH, --model NAME or --text-encoder PATH"
        )
    if (args.suite is None) == (args.task is None):
        raise UsageError(
            "choose what to run: --suite builtin, --suite sts --data DIR, or --task NAME "
            f"--data SOURCE (tasks: {', '.join(_task_names())})"
        )
    if args.task is not None and args.data is None:
        raise UsageError(f"--task {args.task} needs --data SOURCE")
    if args.suite == "builtin" and (args.data or _request(args, "").given()):
        raise UsageError("--suite builtin brings its own data; drop --data and the data options")
    if args.suite == "sts" and args.data is None:
        raise UsageError("--suite sts needs --data DIR, a folder holding STS sets")
    if args.batch_size < 1 or args.workers < 0:
        raise UsageError(
            f"--batch-size must be >= 1 and --workers >= 0, got {args.batch_size}, {args.workers}"
        )
    if args.read_timeout < 0 or args.worker_timeout < 0:
        raise UsageError(
            f"--read-timeout and --worker-timeout must be >= 0 seconds (0 = no limit), got "
            f"{args.read_timeout}, {args.worker_timeout}"
        )


def _check_text_encoder(args: EvalArgs) -> None:
    from cyclip.evaluation.registry import TASKS

    given = [f for f in ("checkpoint", "model", "pretrained") if getattr(args, f) is not None]
    if given:
        flags = ", ".join("--" + f for f in given)
        raise UsageError(f"--text-encoder is a model of its own; drop {flags}")
    text_tasks = [name for name, t in TASKS.items() if t.cli and not t.needs_images]
    shown = ", ".join(text_tasks) or "none registered"
    if args.suite == "builtin":
        raise UsageError(
            "--text-encoder is a text-only model and --suite builtin needs images; "
            f"run --suite sts --data DIR or a text task with --task (text tasks: {shown})"
        )
    task = TASKS.get(args.task or "")
    if task is not None and task.needs_images:
        raise UsageError(
            f"--task {args.task} needs images and --text-encoder is a text-only model; "
            f"use a text task (text tasks: {shown})"
        )


def _task_names() -> tuple[str, ...]:
    from cyclip.evaluation.registry import cli_task_names

    return cli_task_names()


def _request(args: EvalArgs, data: str):
    from cyclip.evaluation.registry import TaskRequest

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return TaskRequest(
        data=data,
        train_data=args.train_data,
        classnames=args.classnames,
        templates=args.templates,
        superclasses=args.superclasses,
        images=args.images,
        options=options,
    )


def _device(name: str) -> str:
    from cyclip.device import resolve_device

    try:
        return resolve_device(name)
    except ValueError as exc:
        raise UsageError(f"--{exc}") from None


def _precision_line(precision: InferencePrecision, device: str) -> str:
    from cyclip.precision import describe_precision

    return describe_precision(precision, device)


def _output_dir(args: EvalArgs) -> Path:
    from cyclip.evaluation.load import run_dir_of

    if args.output_dir is not None:
        return args.output_dir
    run = run_dir_of(args.checkpoint) if args.checkpoint is not None else None
    return RunDir(run).eval if run is not None else DEFAULT_OUTPUT_DIR


def _plan(args: EvalArgs):
    """The suite, or the task with its data opened (before the model loads: bad paths fail fast)."""
    from cyclip.evaluation import SuiteConfig, open_task

    if args.suite == "builtin":
        return SuiteConfig(linear_probe=args.linear_probe)
    if args.suite == "sts":
        from cyclip.data.sts import find_sts_sets

        assert args.data is not None  # checked by _check
        found = find_sts_sets(args.data)
        return [open_task("sts", _request(args, str(path))) for path in found]
    assert args.task is not None and args.data is not None  # checked by _check
    return [open_task(args.task, _request(args, args.data))]


def run(args: EvalArgs) -> list[Path]:
    """Carry out an ``EvalArgs``; returns the result files written."""
    from cyclip.cli.format import format_result, format_summary
    from cyclip.evaluation import ExtractConfig, FeatureCache, LinearProbeConfig, evaluate_model
    from cyclip.evaluation.cache import default_cache_dir
    from cyclip.evaluation.load import load_model
    from cyclip.evaluation.text_encoder import load_text_encoder

    device = _device(args.device)
    plan = _plan(args)
    if args.text_encoder is not None:
        loaded = load_text_encoder(args.text_encoder, device=device)
    else:
        loaded = load_model(args.checkpoint, args.model, args.pretrained, device=device)
    print(f"eval: {_precision_line(args.precision, device)}", file=sys.stderr)
    if loaded.info.fingerprint is None:
        print("note: randomly initialised model; features are not cached", file=sys.stderr)
    out = _output_dir(args)
    evaluation = evaluate_model(
        loaded,
        plan,
        output_dir=out,
        extract=ExtractConfig(
            args.batch_size,
            args.workers,
            device,
            args.precision,
            read_timeout=args.read_timeout,
            worker_timeout=args.worker_timeout,
        ),
        cache=FeatureCache((args.cache_dir or default_cache_dir()) if args.cache else None),
        probe=LinearProbeConfig() if args.linear_probe else None,
    )
    results = evaluation.results
    if len(results) == 1:
        print(format_result(next(iter(results.values()))))
    else:
        print(format_summary(results.values()))
    print(f"\nwrote {len(evaluation.paths)} result file(s) to {out}")
    return evaluation.paths


def _description() -> str:
    from cyclip.evaluation import TASKS

    listed = [f"  {t.name}: {t.summary}" for t in TASKS.values() if t.cli]
    return DESCRIPTION + "\n\nTasks (--task):\n" + "\n".join(listed)


def _run_showing_cache_warnings(args: EvalArgs) -> list[Path]:
    """:func:`run`, with a cache that cannot be used shown as one ``warning:`` line."""
    import warnings

    from cyclip.evaluation.cache import CacheWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        try:
            return run(args)
        finally:
            for w in caught:
                if issubclass(w.category, CacheWarning):
                    print(f"cyclip eval: warning: {w.message}", file=sys.stderr)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def main(argv: list[str]) -> int:
    """Run ``cyclip eval`` with the given arguments; returns the exit code (2: invalid input)."""
    try:
        args = parse_cli(EvalArgs, argv, "cyclip eval", _description())
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        _check(args)
        _run_showing_cache_warnings(args)
    except (
        UsageError,
        ValueError,
        FileExistsError,
        FileNotFoundError,
        NotADirectoryError,
        PermissionError,
        OSError,  # a hub-named --text-encoder that cannot be fetched (offline, unknown id)
        ImportError,  # --text-encoder without the transformers package
    ) as exc:
        print(f"cyclip eval: error: {exc}", file=sys.stderr)
        return 2
    return 0
