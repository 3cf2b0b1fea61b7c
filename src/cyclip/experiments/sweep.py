"""Batch-size sweep of the cyclic normalisation: where does the paper's ÷N stop learning?

CyCLIP (λ_in = λ_cross = 0.25) is trained for the same number of optimiser steps at each batch
size, once with ``normalization="paper"`` (÷N) and once with ``"mean"`` (÷N²), and checked for
collapse: the contrastive loss stays at ln N (chance for N-way matching) while the image
embeddings have moved together (image uniformity near 0, its value when all embeddings are
identical), and zero-shot accuracy sits at chance.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from cyclip.evaluation import SuiteConfig
from cyclip.experiments.claims import METHODS, ClaimsConfig, evaluate_run, train_method
from cyclip.experiments.stats import collect_metrics
from cyclip.losses import NORMALIZATIONS, Normalization
from cyclip.rundir import RunDir

SWEEP_SUITE = SuiteConfig(
    factors=("shape",),
    shifts=(),
    consistency=False,
    linear_probe=False,
    retrieval=False,
    compositional=False,
    test_size=504,
    geometry_size=512,
)
"""Shape zero-shot (8 classes, chance 12.5 %) and geometry: enough to tell collapse apart."""

LEARNED_FRACTION = 0.9
"""Learning: the final contrastive loss is below this fraction of ln N."""
COLLAPSED_UNIFORMITY = -0.5
"""Collapse: image uniformity log E exp(−2‖x−y‖²) above this (0 when all embeddings coincide;
about −4 for embeddings spread over the sphere)."""


@dataclass(frozen=True)
class SweepConfig:
    """The batch-size sweep of the two cyclic normalisations: sizes, steps, seed."""

    model: str = "cyclip-tiny"
    """The sweep asks when each normalisation collapses as N grows, not how well shape is
    learned, so it keeps the cheap ViT (batch 1,024 on cyclip-rn-tiny would cost ~8x per step)
    and stays comparable with the committed sweep."""
    batch_sizes: tuple[int, ...] = (64, 256, 1024)
    normalizations: tuple[Normalization, ...] = NORMALIZATIONS
    steps: int = 160
    """Optimiser steps at every batch size: at N = 128-256, CLIP and "mean" leave ln N only after
    50-100 steps (80 steps were too few to tell anything apart)."""
    warmup_steps: int = 10
    seed: int = 0


def is_collapsed(contrastive_loss: float, batch_size: int, uniformity_image: float) -> bool:
    """Contrastive loss still at chance (≥ 0.9 ln N) with the image embeddings bunched up."""
    stuck = contrastive_loss >= LEARNED_FRACTION * math.log(batch_size)
    return stuck and uniformity_image > COLLAPSED_UNIFORMITY


def _loss_curve(run_dir: Path) -> list[tuple[int, float]]:
    curve = []
    with open(RunDir(run_dir).metrics, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if "contrastive_loss" in record and "step" in record:
                curve.append((int(record["step"]), float(record["contrastive_loss"])))
    return curve


def run_sweep(
    base: ClaimsConfig,
    sweep: SweepConfig,
    runs_dir: Path,
    pairs: tuple[torch.Tensor, torch.Tensor],
    log=print,
) -> list[dict]:
    """Train and check every (batch size, normalisation); returns one row per run."""
    cyclip = next(m for m in METHODS if m.name == "cyclip")
    rows = []
    for batch_size in sweep.batch_sizes:
        for normalization in sweep.normalizations:
            cfg = ClaimsConfig(
                model=sweep.model,
                batch_size=batch_size,
                steps=sweep.steps,
                lr=base.lr,
                warmup_steps=sweep.warmup_steps,
                normalization=normalization,
            )
            run_name = runs_dir / f"bs{batch_size}-{normalization}"
            run_dir, train_s = train_method(cfg, cyclip, sweep.seed, run_name, pairs)
            evaluate_run(run_dir, SWEEP_SUITE)
            metrics = collect_metrics(run_dir)
            curve = _loss_curve(run_dir)
            final = curve[-1][1]
            uniformity = metrics["shapes/val/geometry/uniformity_image"]
            row = {
                "batch_size": batch_size,
                "normalization": normalization,
                "steps": sweep.steps,
                "samples": batch_size * sweep.steps,
                "ln_n": math.log(batch_size),
                "final_contrastive_loss": final,
                "loss_over_ln_n": final / math.log(batch_size),
                "zero_shot_shape_top1": metrics["shapes/shape/test/zero_shot/top1"],
                "uniformity_image": uniformity,
                "inmodal_cyclic": metrics["shapes/val/geometry/inmodal_cyclic"],
                "crossmodal_cyclic": metrics["shapes/val/geometry/crossmodal_cyclic"],
                "collapsed": is_collapsed(final, batch_size, uniformity),
                "train_s": train_s,
                "curve": curve,
                "run_dir": str(run_dir),
            }
            log(
                f"sweep bs={batch_size:5d} {normalization:5s}: loss/lnN "
                f"{row['loss_over_ln_n']:.3f}, zero-shot {row['zero_shot_shape_top1']:.1f} %, "
                f"uniformity {uniformity:.2f}, collapsed={row['collapsed']} ({train_s:.0f} s)"
            )
            rows.append(row)
    return rows


def sweep_markdown(rows: list[dict]) -> str:
    """The batch-size sweep as a Markdown table, one row per (batch size, normalisation)."""
    lines = [
        "| batch N | normalisation | steps | final contrastive loss | ln N | loss / ln N "
        "| zero-shot shape top-1 % (chance 12.5) | image uniformity | collapsed? |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch_size']} | {r['normalization']} | {r['steps']} "
            f"| {r['final_contrastive_loss']:.3f} | {r['ln_n']:.3f} | {r['loss_over_ln_n']:.3f} "
            f"| {r['zero_shot_shape_top1']:.1f} | {r['uniformity_image']:.2f} "
            f"| {'yes' if r['collapsed'] else 'no'} |"
        )
    return "\n".join(lines)


def plot_sweep(rows: list[dict], path: Path) -> Path:
    """Loss / ln N over steps, one line per run (solid: paper, dashed: mean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_curve, ax_zs) = plt.subplots(1, 2, figsize=(10, 4))
    sizes = sorted({r["batch_size"] for r in rows})
    colours = dict(zip(sizes, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for r in rows:
        steps, losses = zip(*r["curve"], strict=True)
        ax_curve.plot(
            steps,
            [v / r["ln_n"] for v in losses],
            linestyle="-" if r["normalization"] == "paper" else "--",
            color=colours[r["batch_size"]],
            label=f"N={r['batch_size']} {r['normalization']}",
        )
    ax_curve.set(xlabel="step", ylabel="contrastive loss / ln N", title="1 = chance")
    ax_curve.legend(fontsize=7)
    for norm, marker in (("paper", "o"), ("mean", "s")):
        pts = sorted(
            (r["batch_size"], r["zero_shot_shape_top1"]) for r in rows if r["normalization"] == norm
        )
        if pts:
            ax_zs.plot(*zip(*pts, strict=True), marker=marker, label=norm)
    ax_zs.axhline(12.5, color="grey", linestyle=":", label="chance")
    ax_zs.set(xscale="log", xlabel="batch size N", ylabel="zero-shot shape top-1 %")
    ax_zs.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = [
    "SWEEP_SUITE",
    "SweepConfig",
    "is_collapsed",
    "plot_sweep",
    "run_sweep",
    "sweep_markdown",
]
