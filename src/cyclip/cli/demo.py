"""``cyclip demo``: the main job. Train CyCLIP on the builtin world, evaluate it on the whole
builtin suite, write a report, print a summary.

Everything runs through the library: :func:`cyclip.train.train`, :func:`cyclip.evaluation
.evaluate_model` and :func:`cyclip.report.build_report`, so the run directory it leaves is the
same as ``cyclip train`` + ``cyclip eval --suite builtin`` + ``cyclip report`` would write.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from cyclip.cli.args import parse_cli
from cyclip.losses import Normalization
from cyclip.precision import InferencePrecision, describe_precision
from cyclip.rundir import RunDir

PROG = "cyclip demo"


@dataclass(frozen=True)
class DemoArgs:
    """Train cyclip-rn-tiny with the CyCLIP objective on the builtin synthetic world, evaluate it
    on the whole builtin suite (zero-shot in-distribution and under shift, consistency@k, linear
    probe, fine vs coarse, retrieval, geometry, compositionality, sentence similarity) and write
    RUN_DIR/report.html. About 5 minutes on 2 CPU cores with native bf16, 6.5 in fp32
    (measured); --quick runs the same path in about a minute."""

    quick: bool = False
    """Smoke-test preset: a few dozen steps and a reduced evaluation (~1 minute)."""
    output_dir: Path = Path("runs")
    """Parent folder of the run directory."""
    name: str | None = None
    """Run directory name (default: demo-<date>-<time>)."""
    model: str = "cyclip-rn-tiny"
    """open_clip architecture to train. The default ResNet tower learns shape where the ViTs
    (cyclip-tiny, cyclip-small) hardly do, at half cyclip-small's cost per step (docs/results.md,
    "Why shape is not learned")."""
    steps: int | None = None
    """Optimiser steps (default: 500, or 40 with --quick)."""
    batch_size: int = 256
    """Pairs per step."""
    lr: float = 1e-3
    """Peak learning rate (linear warm-up, then cosine)."""
    normalization: Normalization = "mean"
    """Cyclic-term divisor. 'mean' (÷N²) by default: at this scale the paper's ÷N collapses the
    embeddings within a few steps (see docs/results.md); 'paper' reproduces that."""
    loss: Literal["cyclip", "clip"] = "cyclip"
    """Objective: 'cyclip' (λ_in = λ_cross = 0.25) or 'clip' for the baseline."""
    precision: InferencePrecision = "auto"
    """Training and evaluation precision: auto = bf16 where the CPU / GPU computes it natively
    (1.65x faster steps on an AVX512-BF16 CPU, same curves; see docs/performance.md), else fp32."""
    workers: int = 2
    """DataLoader worker processes rendering the world's images."""
    seed: int = 0


def _train_config(args: DemoArgs, name: str):
    from cyclip.data import DataConfig
    from cyclip.train import LossConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig

    steps = args.steps or (40 if args.quick else 500)
    return TrainConfig(
        model=ModelConfig(name=args.model),
        data=DataConfig(
            train_data="builtin:shapes/pretrain",
            val_data="builtin:shapes/val?size=512" if args.quick else "builtin:shapes/val",
            batch_size=args.batch_size,
            workers=args.workers,
        ),
        loss=LossConfig(name=args.loss, normalization=args.normalization),
        optim=OptimConfig(
            lr=args.lr,
            warmup_steps=max(1, steps // 10),
            max_steps=steps,
            precision=args.precision,
        ),
        run=RunConfig(
            output_dir=str(args.output_dir),
            name=name,
            seed=args.seed,
            log_every=10,
            checkpoint_every=max(steps // 5, 10),
            eval_every=max(steps // 5, 10),
        ),
    )


def _suite_config(quick: bool):
    from cyclip.evaluation import SuiteConfig

    if not quick:
        return SuiteConfig()
    return SuiteConfig(
        shifts=("novel",),
        test_size=256,
        train_size=512,
        retrieval_size=200,
        geometry_size=256,
        compositional_size=250,
    )


def _evaluate(
    checkpoint: Path, run_dir: Path, quick: bool, workers: int, precision: InferencePrecision
) -> dict[str, dict]:
    from cyclip.evaluation import ExtractConfig, FeatureCache, evaluate_model, load_model
    from cyclip.evaluation.cache import default_cache_dir

    return evaluate_model(
        load_model(checkpoint=checkpoint),
        _suite_config(quick),
        output_dir=RunDir(run_dir).eval,
        extract=ExtractConfig(batch_size=256, workers=workers, device="cpu", precision=precision),
        cache=FeatureCache(default_cache_dir()),
    ).results


def _metric(results: dict[str, dict], dataset: str, group: str, key: str) -> float | None:
    for result in results.values():
        if result["dataset"].get("name") == dataset:
            value = result["metrics"].get(group, {}).get(key)
            if value is not None:
                return float(value)
    return None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def summary_table(results: dict[str, dict]) -> str:
    """The headline numbers of a builtin-suite evaluation, chance levels beside them."""
    from cyclip.world import load_classification

    header = ("task", "classes", "chance", "top-1", "sketch", "noisy", "novel", "cons@1", "probe")
    rows: list[tuple[str, ...]] = [header]
    for factor in ("shape", "colour", "colour-shape"):
        _, info = load_classification(f"shapes/{factor}/test")
        n = len(info.classnames)
        test = f"shapes/{factor}/test"
        rows.append(
            (
                factor,
                str(n),
                _fmt(100 / n),
                _fmt(_metric(results, test, "zero_shot", "top1")),
                *(
                    _fmt(_metric(results, f"shapes/{factor}/{shift}", "zero_shot", "top1"))
                    for shift in ("sketch", "noisy", "novel")
                ),
                _fmt(_metric(results, test, "consistency", "consistency@1")),
                _fmt(_metric(results, test, "linear_probe", "top1")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    fine = _metric(results, "shapes/colour-shape/test", "fine_coarse", "fine_top1")
    coarse = _metric(results, "shapes/colour-shape/test", "fine_coarse", "coarse_top1")
    i2t = _metric(results, "shapes/retrieval", "retrieval", "image_to_text_R@1")
    t2i = _metric(results, "shapes/retrieval", "retrieval", "text_to_image_R@1")
    gap = _metric(results, "shapes/val", "geometry", "modality_gap")
    res_in = _metric(results, "shapes/val", "geometry", "inmodal_cyclic")
    res_cross = _metric(results, "shapes/val", "geometry", "crossmodal_cyclic")
    sts_spearman = _metric(results, "shapes/sts", "sts", "spearman")
    sts_pearson = _metric(results, "shapes/sts", "sts", "pearson")
    lines += [
        "",
        f"colour-shape fine / coarse top-1: {_fmt(fine)} / {_fmt(coarse)}   "
        f"retrieval R@1 image->text / text->image: {_fmt(i2t)} / {_fmt(t2i)}",
        f"geometry on held-out pairs: modality gap {_fmt(gap, 3)}, in-modal residual "
        f"{_fmt(res_in, 4)}, cross-modal residual {_fmt(res_cross, 4)} (÷N²)",
        *_compositional_lines(results),
        f"sentence similarity of the text tower (shapes/sts): Spearman {_fmt(sts_spearman)} / "
        f"Pearson {_fmt(sts_pearson)} (x100)",
        "(accuracies in %; zero-shot with the world's prompt templates; cons@1 = consistency@1)",
    ]
    return "\n".join(lines)


def _compositional_lines(results: dict[str, dict]) -> list[str]:
    """True caption vs hard negative on shapes/compositional: image-text / text-only."""
    from cyclip.world.compositional import CATEGORIES

    keys = (*CATEGORIES, "overall")
    pairs = [
        f"{k} {_fmt(_metric(results, 'shapes/compositional', 'image_text', k))}"
        f"/{_fmt(_metric(results, 'shapes/compositional', 'text_only', k))}"
        for k in keys
    ]
    if _metric(results, "shapes/compositional", "image_text", "overall") is None:
        return []
    return [f"compositional, image-text/text-only (chance 50): {', '.join(pairs)}"]


def run(args: DemoArgs) -> int:
    """Train, evaluate and report as ``args`` says; returns the exit code."""
    from cyclip.report import build_report
    from cyclip.train import ConfigError, TrainingError, train, validate

    name = args.name or datetime.now().strftime(
        f"demo{'-quick' if args.quick else ''}-%Y%m%d-%H%M%S"
    )
    cfg = _train_config(args, name).resolved()
    problems = validate(cfg)
    if problems:
        for problem in problems:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print(
        f"[1/3] training {args.model} with {args.loss} ({args.normalization}) "
        f"for {cfg.optim.max_steps} steps of {args.batch_size} pairs",
        flush=True,
    )
    try:
        result = train(cfg)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return 2
    except TrainingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if result.stopped_by is not None or result.checkpoint is None:
        print(
            f"{PROG}: training stopped early ({result.stopped_by}); resume with "
            f"cyclip train --config {RunDir(result.run_dir).config} --run.resume latest",
            file=sys.stderr,
        )
        return 1
    trained = time.perf_counter()
    print(
        f"[2/3] evaluating {result.checkpoint} on the builtin suite "
        f"({describe_precision(args.precision, 'cpu')})",
        flush=True,
    )
    results = _evaluate(result.checkpoint, result.run_dir, args.quick, args.workers, args.precision)
    evaluated = time.perf_counter()
    print("[3/3] writing the report", flush=True)
    paths = build_report([result.run_dir], result.run_dir / "report.html")
    done = time.perf_counter()
    print()
    print(summary_table(results))
    print()
    print(f"run directory: {result.run_dir}")
    print(f"report:        {paths.html}")
    print(
        f"checkpoint:    {result.checkpoint}  (loads in open_clip: "
        f"open_clip.create_model('{args.model}', pretrained=PATH) after 'import cyclip.models')"
    )
    print(
        f"wall time:     {done - start:.0f} s (train {trained - start:.0f} s, "
        f"evaluate {evaluated - trained:.0f} s, report {done - evaluated:.0f} s)"
    )
    return 0


def main(argv: list[str]) -> int:
    """Run ``cyclip demo`` with the given arguments; returns the exit code."""
    try:
        args = parse_cli(DemoArgs, argv, PROG, DemoArgs.__doc__)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run(args)
