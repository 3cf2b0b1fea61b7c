"""``cyclip eval``: evaluate a model with the protocols of docs/method.md §4, one JSON per run.

Examples::

    cyclip eval --checkpoint runs/a/checkpoints/latest.pt --suite builtin
    cyclip eval --checkpoint ckpt.pt --task zeroshot --data ../cifar10-test-mini
    cyclip eval --model ViT-B-32 --pretrained openai --task retrieval --data coco/
    cyclip eval --checkpoint ckpt.pt --task zeroshot --data builtin:shapes/shape/test \\
        --train-data builtin:shapes/shape/train

Result files follow ``cyclip.evaluation.schema.SCHEMA``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cyclip.cli.args import parse_cli

DESCRIPTION = "Evaluate a model with the protocols of docs/method.md §4; one JSON per evaluation."
DEFAULT_OUTPUT_DIR = Path("eval_results")


@dataclass(frozen=True)
class EvalArgs:
    """Evaluate a CLIP / CyCLIP model: zero-shot, linear probe, consistency@k, fine vs coarse,
    retrieval, geometry, robustness. Give a model (--checkpoint, or --model [--pretrained]) and
    either --suite builtin or --task with --data."""

    checkpoint: Path | None = None
    """cyclip checkpoint (or open_clip checkpoint / state_dict file, with --model)."""
    model: str | None = None
    """open_clip architecture name (alone: a randomly initialised model)."""
    pretrained: str | None = None
    """With --model: open_clip pretrained tag or local weights file."""
    suite: Literal["builtin"] | None = None
    """Run the whole builtin-world suite (every protocol; writes one file per evaluation)."""
    task: Literal["zeroshot", "retrieval", "geometry"] | None = None
    """zeroshot: labelled images (+ linear probe and consistency@k with --train-data);
    retrieval: images with captions; geometry: image-caption pairs."""
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
    linear_probe: bool = True
    """Fit the linear probe when --train-data is given (or in the suite)."""
    batch_size: int = 256
    """Images (or captions) per forward pass."""
    workers: int = 2
    """DataLoader worker processes decoding images."""
    device: str = "auto"
    """'auto' (cuda if available, else cpu), 'cpu', 'cuda', 'cuda:1', ..."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16 runs the forward pass under autocast."""
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
    if args.checkpoint is None and args.model is None:
        raise UsageError("nothing to evaluate: pass --checkpoint PATH or --model NAME")
    if (args.suite is None) == (args.task is None):
        raise UsageError(
            "choose what to run: --suite builtin, or --task {zeroshot,retrieval,geometry} --data SOURCE"
        )
    if args.task is not None and args.data is None:
        raise UsageError(f"--task {args.task} needs --data SOURCE")
    if args.suite is not None and (args.data or args.train_data):
        raise UsageError("--suite builtin brings its own data; drop --data / --train-data")
    if args.train_data is not None and args.task != "zeroshot":
        raise UsageError("--train-data only applies to --task zeroshot")
    if args.task != "zeroshot" and (args.classnames or args.templates or args.superclasses):
        raise UsageError("--classnames/--templates/--superclasses only apply to --task zeroshot")
    if args.batch_size < 1 or args.workers < 0:
        raise UsageError(
            f"--batch-size must be >= 1 and --workers >= 0, got {args.batch_size}, {args.workers}"
        )


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available here; use --device cpu")
    return name


def _output_dir(args: EvalArgs) -> Path:
    from cyclip.evaluation.load import run_dir_of

    if args.output_dir is not None:
        return args.output_dir
    run = run_dir_of(args.checkpoint) if args.checkpoint is not None else None
    return run / "eval" if run is not None else DEFAULT_OUTPUT_DIR


def _open_sources(args: EvalArgs) -> dict:
    """The data of a --task run, opened before the model is loaded so bad paths fail fast."""
    from cyclip.evaluation import sources

    if args.task == "retrieval":
        return {"data": sources.open_retrieval_source(args.data)}
    if args.task == "geometry":
        return {"data": sources.open_pairs_source(args.data)}
    files = {
        "classnames": args.classnames,
        "templates": args.templates,
        "superclasses": args.superclasses,
    }
    opened = {"data": sources.open_classification_source(args.data, **files)}
    if args.train_data is not None:
        opened["train"] = sources.open_classification_source(
            args.train_data, **files, split="train"
        )
    return opened


def run(args: EvalArgs) -> list[Path]:
    """Carry out an ``EvalArgs``; returns the result files written."""
    from cyclip.evaluation.cache import FeatureCache, default_cache_dir
    from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
    from cyclip.evaluation.linear_probe import LinearProbeConfig
    from cyclip.evaluation.load import load_model
    from cyclip.evaluation.run import Evaluator
    from cyclip.evaluation.schema import result_filename, write_result
    from cyclip.evaluation.suite import SuiteConfig, run_suite
    from cyclip.evaluation.table import format_result, format_summary

    device = _device(args.device)
    opened = _open_sources(args) if args.task is not None else {}
    loaded = load_model(args.checkpoint, args.model, args.pretrained, device=device)
    cache = FeatureCache((args.cache_dir or default_cache_dir()) if args.cache else None)
    extract = ExtractConfig(args.batch_size, args.workers, device, args.precision)
    extractor = FeatureExtractor(loaded.bundle, loaded.info.fingerprint, cache, extract)
    probe = LinearProbeConfig() if args.linear_probe else None
    evaluator = Evaluator(extractor, loaded.info, probe=probe)
    if loaded.info.fingerprint is None:
        print("note: randomly initialised model; features are not cached", file=sys.stderr)

    if args.suite == "builtin":
        results = run_suite(evaluator, SuiteConfig(linear_probe=args.linear_probe))
    else:
        data = opened["data"]
        if args.task == "zeroshot":
            result = evaluator.classification(data, opened.get("train"))
        elif args.task == "retrieval":
            result = evaluator.retrieval(data)
        else:
            result = evaluator.geometry(data)
        results = {result_filename(data.name, args.task): result}

    out = _output_dir(args)
    paths = [write_result(r, out, name) for name, r in results.items()]
    if len(results) == 1:
        print(format_result(next(iter(results.values()))))
    else:
        print(format_summary(results.values()))
    print(f"\nwrote {len(paths)} result file(s) to {out}")
    return paths


def main(argv: list[str]) -> int:
    try:
        args = parse_cli(EvalArgs, argv, "cyclip eval", DESCRIPTION)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        _check(args)
        run(args)
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"cyclip eval: error: {exc}", file=sys.stderr)
        return 2
    return 0
