"""``cyclip report``: run directories -> one self-contained HTML report (+ Markdown twin).

Examples::

    cyclip report runs/clip runs/cyclip --out report.html
    cyclip report runs/cyclip --evaluate      # run 'cyclip eval --suite builtin' first
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from cyclip.rundir import RunDir

DESCRIPTION = "Run directories -> one self-contained HTML report (and a Markdown twin)."


@dataclass(frozen=True)
class ReportArgs:
    """Turn run directories into an HTML report: training curves, consistency@k, fine vs coarse,
    zero-shot under shift, similarity histograms, geometry; runs side by side."""

    run_dirs: Annotated[tuple[Path, ...], tyro.conf.Positional]
    """Run directories (RUN_DIR with config.yaml, metrics.jsonl, eval/*.json)."""
    out: Path = Path("report.html")
    """HTML file to write; the Markdown version goes beside it (same name, .md)."""
    evaluate: bool = False
    """First evaluate each run's latest checkpoint on the builtin suite (writes RUN_DIR/eval)."""
    batch_size: int = 256
    """With --evaluate: images per forward pass."""
    workers: int = 2
    """With --evaluate: DataLoader workers."""
    device: str = "auto"
    """With --evaluate: 'auto', 'cpu', 'cuda', ..."""


def _evaluate(run_dir: Path, args: ReportArgs) -> None:
    from cyclip.device import resolve_device
    from cyclip.evaluation import (
        ExtractConfig,
        FeatureCache,
        SuiteConfig,
        default_cache_dir,
        evaluate_model,
        load_model,
    )

    checkpoint = RunDir(run_dir).latest
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"--evaluate: {run_dir} has no checkpoints/latest.pt; train it first or drop --evaluate"
        )
    device = resolve_device(args.device)
    evaluation = evaluate_model(
        load_model(checkpoint=checkpoint, device=device),
        SuiteConfig(),
        output_dir=RunDir(run_dir).eval,
        extract=ExtractConfig(args.batch_size, args.workers, device),
        cache=FeatureCache(default_cache_dir()),
    )
    print(
        f"evaluated {checkpoint}: {len(evaluation.paths)} result file(s) in {RunDir(run_dir).eval}"
    )


def main(argv: list[str]) -> int:
    """Run ``cyclip report`` with the given arguments; returns the exit code (2: bad input)."""
    from cyclip.cli.args import parse_cli

    try:
        args = parse_cli(ReportArgs, argv, "cyclip report", DESCRIPTION)
    except SystemExit as exc:
        return int(exc.code or 0)
    from cyclip.report import build_report

    try:
        if not args.run_dirs:
            raise ValueError("give at least one run directory")
        for run_dir in args.run_dirs:
            if not run_dir.is_dir():
                raise NotADirectoryError(f"run directory not found: {run_dir}")
        if args.evaluate:
            for run_dir in args.run_dirs:
                _evaluate(run_dir, args)
        paths = build_report(args.run_dirs, args.out)
    except (
        ValueError,
        FileExistsError,
        FileNotFoundError,
        NotADirectoryError,
        PermissionError,
    ) as exc:
        print(f"cyclip report: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {paths.html} and {paths.markdown}")
    return 0
