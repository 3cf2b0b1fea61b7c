"""Reproduce the paper's claims at laptop scale: CLIP vs CyCLIP vs C-/I-CyCLIP over seeds.

    .venv/bin/python experiments/paper_claims.py --out experiments/results          # full
    .venv/bin/python experiments/paper_claims.py --out /tmp/claims --quick          # minutes
    .venv/bin/python experiments/paper_claims.py --out experiments/results-siglip \
        --methods clip cyclip siglip cy-siglip --no-sweep                         # + SigLIP

Writes under OUT what is committed: ``results.md`` (tables: mean ± std over seeds, CyCLIP − CLIP,
whether the difference exceeds 2 Welch standard errors) and the same data as JSON (``all.json``;
``main.json`` or ``sweep.json`` with ``--no-sweep`` / ``--no-main``), ``runs.jsonl`` (one line
per run: its configuration, final training metrics and every evaluation metric), ``report.html``
(the four methods side by side, seed 0), ``claims.png`` and ``sweep.png``. The per-run folders
``runs/<method>-seed<k>/`` and ``sweep/bs<N>-<norm>/`` (training log, checkpoint, ``eval/`` JSONs
as ``cyclip eval --suite builtin`` writes them, so ``cyclip report`` works on them) are
git-ignored. ``--resume`` skips runs already evaluated (a run a signal stopped continues from
its checkpoint); ``--records-only`` rewrites ``runs.jsonl`` from the run folders and stops;
``--tables-only`` writes the tables from the evaluated runs and trains nothing, so several
processes can train disjoint ``--seeds`` into one OUT and one last call tabulates them all.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from cyclip.evaluation import SuiteConfig
from cyclip.experiments import (
    ALL_METHODS,
    METHODS,
    ClaimsConfig,
    Method,
    evaluate_run,
    render_pairs,
    train_method,
)
from cyclip.experiments.records import write_run_records
from cyclip.experiments.stats import collect_metrics, markdown_tables, paired_table
from cyclip.experiments.sweep import SweepConfig, plot_sweep, run_sweep, sweep_markdown
from cyclip.losses import NORMALIZATIONS
from cyclip.models import create_model
from cyclip.report import build_report
from cyclip.rundir import RunDir

QUICK = ClaimsConfig(
    model="cyclip-tiny",
    train_pairs=1024,
    batch_size=64,
    steps=6,
    warmup_steps=2,
    seeds=(0, 1),
    suite=SuiteConfig(
        test_size=64, train_size=128, retrieval_size=32, geometry_size=64, compositional_size=50
    ),
)
SMALL_EVAL = SuiteConfig(
    test_size=504, train_size=1008, retrieval_size=300, geometry_size=500, compositional_size=500
)
QUICK_SWEEP = SweepConfig(batch_sizes=(16, 64), steps=3, warmup_steps=1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    full = ClaimsConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("experiments/results"))
    p.add_argument("--quick", action="store_true", help="tiny settings, a few minutes (CI smoke)")
    p.add_argument("--model", default=None, help=f"architecture (full: {full.model})")
    p.add_argument("--steps", type=int, default=None, help=f"steps per run (full: {full.steps})")
    p.add_argument("--batch-size", type=int, default=None, help=f"(full: {full.batch_size})")
    p.add_argument("--train-pairs", type=int, default=None, help=f"(full: {full.train_pairs})")
    p.add_argument("--warmup-steps", type=int, default=None, help=f"(full: {full.warmup_steps})")
    p.add_argument("--lr", type=float, default=None, help=f"(full: {full.lr})")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="(full: 0 to 7)")
    p.add_argument("--sweep-steps", type=int, default=None, help="steps per sweep run (full: 160)")
    p.add_argument(
        "--sweep-model", default=None, help=f"architecture of the sweep (full: {SweepConfig.model})"
    )
    p.add_argument("--sweep-batch-sizes", type=int, nargs="+", default=None)
    p.add_argument("--sweep-normalizations", choices=NORMALIZATIONS, nargs="+", default=None)
    p.add_argument(
        "--small-eval",
        action="store_true",
        help="evaluate on 504 test / 1008 train images per split, 300 retrieval, 500 geometry, "
        "500 compositional",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        choices=list(ALL_METHODS),
        default=[m.name for m in METHODS],
        help="methods of the main comparison (default: the paper's four); siglip and cy-siglip "
        "train SigLIP's objective with the same settings and seeds",
    )
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--no-main", action="store_true", help="run only the sweep")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--resume", action="store_true", help="skip runs that already have eval/")
    p.add_argument(
        "--tables-only",
        action="store_true",
        help="train nothing: write the tables from the runs under OUT that are already "
        "evaluated (methods may then have different seeds; the statistics are unpaired)",
    )
    p.add_argument(
        "--records-only",
        action="store_true",
        help="only rewrite OUT/runs.jsonl from the run folders under OUT",
    )
    return p.parse_args(argv)


def configs(args: argparse.Namespace) -> tuple[ClaimsConfig, SweepConfig]:
    cfg, sweep = (QUICK, QUICK_SWEEP) if args.quick else (ClaimsConfig(), SweepConfig())
    overrides = {
        "model": args.model,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "train_pairs": args.train_pairs,
        "warmup_steps": args.warmup_steps,
        "lr": args.lr,
        "normalization": args.normalization,
        "seeds": tuple(args.seeds) if args.seeds else None,
    }
    if args.small_eval:
        overrides["suite"] = SMALL_EVAL
    cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    sweep_overrides = {
        "model": args.sweep_model,
        "steps": args.sweep_steps,
        "batch_sizes": tuple(args.sweep_batch_sizes) if args.sweep_batch_sizes else None,
        "normalizations": tuple(args.sweep_normalizations) if args.sweep_normalizations else None,
    }
    sweep = dataclasses.replace(
        sweep, **{k: v for k, v in sweep_overrides.items() if v is not None}
    )
    return cfg, sweep


def sweep_pairs(sweep: SweepConfig, cap: int = 20_000) -> int:
    """Enough pairs that the sweep's largest batches are not the same pairs every step."""
    largest = max(sweep.batch_sizes)
    return max(largest, min(largest * sweep.steps, cap))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_main(
    cfg: ClaimsConfig,
    out: Path,
    pairs: Callable[[], tuple],
    resume: bool,
    methods: tuple[Method, ...] = METHODS,
    tables_only: bool = False,
) -> dict[str, list[Path]]:
    """Train and evaluate every (method, seed); seeds outermost so a cut-off run has all
    methods for the seeds it finished. ``tables_only``: only collect the evaluated runs."""
    run_dirs: dict[str, list[Path]] = {m.name: [] for m in methods}
    for seed in cfg.seeds:
        for method in methods:
            run_dir = out / "runs" / f"{method.name}-seed{seed}"
            evaluated = any(RunDir(run_dir).eval.glob("*.json"))
            if (resume or tables_only) and evaluated:
                log(f"{run_dir.name}: already evaluated, skipped")
            elif tables_only:
                log(f"{run_dir.name}: not evaluated, left out of the tables")
                continue
            else:
                run_dir, train_s = train_method(cfg, method, seed, out / "runs", pairs())
                eval_s = evaluate_run(run_dir, cfg.suite)
                log(f"{run_dir.name}: trained {train_s:.0f} s, evaluated {eval_s:.0f} s")
            run_dirs[method.name].append(run_dir)
    return run_dirs


# The headline metrics of the paired table: (label, metric key).
PAIRED_ROWS = (
    ("zero-shot shape top-1 (test)", "shapes/shape/test/zero_shot/top1"),
    ("zero-shot colour-shape top-1 (test)", "shapes/colour-shape/test/zero_shot/top1"),
    ("zero-shot colour top-1 (sketch)", "shapes/colour/sketch/zero_shot/top1"),
    ("zero-shot colour top-1 (noisy)", "shapes/colour/noisy/zero_shot/top1"),
    ("zero-shot colour-shape top-1 (novel pairs)", "shapes/colour-shape/novel/zero_shot/top1"),
    ("consistency@1 colour-shape", "shapes/colour-shape/test/consistency/consistency@1"),
    ("consistency@10 colour-shape", "shapes/colour-shape/test/consistency/consistency@10"),
    ("coarse top-1 (superclass = shape)", "shapes/colour-shape/test/fine_coarse/coarse_top1"),
    ("linear probe colour-shape", "shapes/colour-shape/test/linear_probe/top1"),
    ("retrieval mean recall", "shapes/retrieval/retrieval/mean_recall"),
    ("compositional overall (image-text)", "shapes/compositional/image_text/overall"),
    ("builtin STS Spearman", "shapes/sts/sts/spearman"),
    ("in-modal cyclic residual", "shapes/val/geometry/inmodal_cyclic"),
    ("cross-modal cyclic residual", "shapes/val/geometry/crossmodal_cyclic"),
    ("alignment E‖I−T‖²", "shapes/val/geometry/alignment"),
    ("text uniformity", "shapes/val/geometry/uniformity_text"),
    ("modality gap", "shapes/val/geometry/modality_gap"),
)
PAIRS = (("clip", "cyclip"), ("clip", "c-cyclip"), ("clip", "i-cyclip"), ("siglip", "cy-siglip"))


def seed_of(run_dir: Path) -> int:
    return int(run_dir.name.rsplit("-seed", 1)[1])


def paired_section(run_dirs: dict[str, list[Path]], per_method: dict[str, list[dict]]) -> str:
    """The headline differences paired by seed (runs of one seed share initialisation and data
    order), as a Markdown section; empty when no pair of methods ran."""
    per_seed = {
        m: {seed_of(d): metrics for d, metrics in zip(run_dirs[m], per_method[m], strict=True)}
        for m in run_dirs
    }
    table = paired_table(per_seed, PAIRS, PAIRED_ROWS)
    if not table:
        return ""
    return (
        "### Paired by seed\n\nΔ = the mean over seeds of (variant − its base) for the same "
        "seed (same initialisation and data order), ± its standard error (paired t-test p); "
        "'*' = |Δ| > 2·SE. The seed moves all methods alike, so pairing removes its effect.\n\n"
        + table
    )


def seeds_text(run_dirs: dict[str, list[Path]]) -> str:
    """``seeds [0, 1]`` when every method ran the same seeds, else the seeds per method."""
    seeds = {m: [seed_of(d) for d in dirs] for m, dirs in run_dirs.items()}
    if len({tuple(v) for v in seeds.values()}) == 1:
        return f"seeds {next(iter(seeds.values()))}"
    return "seeds " + "; ".join(f"{m} {v}" for m, v in seeds.items())


def comparison_tables(per_method: dict[str, list[dict]]) -> tuple[str, dict]:
    """The tables with Δ = CyCLIP − CLIP, and Δ = Cy-SigLIP − SigLIP, for the pairs present."""
    texts, data = [], {}
    for reference, challenger in (("clip", "cyclip"), ("siglip", "cy-siglip")):
        if reference in per_method and challenger in per_method:
            text, numbers = markdown_tables(per_method, reference, challenger)
            texts.append(f"Δ {challenger} − {reference}:\n\n{text}")
            data[f"{challenger}-vs-{reference}"] = numbers
    if not texts:  # no (base, cyclic) pair: the first method is the reference
        names = list(per_method)
        text, numbers = markdown_tables(per_method, names[0], names[-1])
        texts.append(text)
        data[f"{names[-1]}-vs-{names[0]}"] = numbers
    return "\n".join(texts), data


def write_claims_plot(per_method: dict[str, list[dict]], path: Path) -> Path:
    """Headline metrics per method, mean ± std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = {
        "zero-shot shape": "shapes/shape/test/zero_shot/top1",
        "zero-shot colour-shape": "shapes/colour-shape/test/zero_shot/top1",
        "consistency@1 colour-shape": "shapes/colour-shape/test/consistency/consistency@1",
        "coarse top-1": "shapes/colour-shape/test/fine_coarse/coarse_top1",
        "retrieval mean R": "shapes/retrieval/retrieval/mean_recall",
        "compositional overall": "shapes/compositional/image_text/overall",
    }
    keys = {k: v for k, v in keys.items() if all(v in r for rs in per_method.values() for r in rs)}
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(per_method)
    for i, (method, runs) in enumerate(per_method.items()):
        values = [[r[k] for r in runs] for k in keys.values()]
        means = [sum(v) / len(v) for v in values]
        stds = [torch.tensor(v).std().item() if len(v) > 1 else 0.0 for v in values]
        xs = [j + i * width for j in range(len(keys))]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=method)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], list(keys), fontsize=8)
    ax.set_ylabel("%")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    cfg, sweep = configs(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    out: Path = args.out
    if args.records_only:
        try:
            log(f"wrote {write_run_records(out)}")
        except FileNotFoundError as e:
            print(f"paper_claims.py: {e}", file=sys.stderr)
            return 2
        return 0
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    setup = {
        "claims": dataclasses.asdict(cfg),
        "sweep": dataclasses.asdict(sweep),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch_threads": torch.get_num_threads(),
        "command": " ".join(["experiments/paper_claims.py", *argv]),
    }
    pairs_needed: dict[str, int] = {}  # model -> pairs (the images follow its input size)
    if not args.no_main:
        pairs_needed[cfg.model] = cfg.train_pairs
    if not args.no_sweep:
        pairs_needed[sweep.model] = max(pairs_needed.get(sweep.model, 0), sweep_pairs(sweep))

    @functools.cache
    def pairs_for(model: str) -> tuple[torch.Tensor, torch.Tensor]:  # on first use (--resume)
        log(f"rendering {pairs_needed[model]} training pairs for {model}")
        return render_pairs(create_model(model), pairs_needed[model])

    sections = [f"# Paper claims at laptop scale\n\nCommand: `{setup['command']}`\n"]
    results: dict = {"setup": setup}

    if not args.no_main:

        def main_pairs() -> tuple[torch.Tensor, torch.Tensor]:
            images, texts = pairs_for(cfg.model)
            return images[: cfg.train_pairs], texts[: cfg.train_pairs]

        methods = tuple(ALL_METHODS[name] for name in dict.fromkeys(args.methods))
        run_dirs = run_main(cfg, out, main_pairs, args.resume, methods, args.tables_only)
        run_dirs = {m: dirs for m, dirs in run_dirs.items() if dirs}
        if not run_dirs:
            print(f"paper_claims.py: no evaluated runs under {out / 'runs'}", file=sys.stderr)
            return 2
        per_method = {m: [collect_metrics(d) for d in dirs] for m, dirs in run_dirs.items()}
        tables, data = comparison_tables(per_method)
        tables += "\n" + paired_section(run_dirs, per_method)
        results["main"] = {
            "tables": next(iter(data.values())),  # CyCLIP vs CLIP when both ran
            "comparisons": data,
            "run_dirs": {m: [str(d) for d in v] for m, v in run_dirs.items()},
        }
        report = build_report([dirs[0] for dirs in run_dirs.values()], out / "report.html")
        plot = write_claims_plot(per_method, out / "claims.png")
        sections.append(
            f"## Main comparison ({cfg.model}, batch {cfg.batch_size}, {cfg.steps} steps, "
            f"{cfg.train_pairs} pairs, normalisation {cfg.normalization}, "
            f"{seeds_text(run_dirs)})\n\nmean ± std over seeds; Δ = the cyclic variant − its base "
            "(CyCLIP − CLIP, Cy-SigLIP − SigLIP) ± Welch SE; "
            f"'> 2·SE?' = whether |Δ| exceeds two standard errors.\n\nPlot: `{plot}`; report: "
            f"`{report.html}`\n\n{tables}"
        )
    if not args.no_sweep and not args.tables_only:
        rows = run_sweep(cfg, sweep, out / "sweep", pairs_for(sweep.model), log=log)
        results["sweep"] = rows
        plot = plot_sweep(rows, out / "sweep.png")
        sections.append(
            f"## Batch-size sweep: paper (÷N) vs mean (÷N²), {sweep.model}, CyCLIP λ = 0.25, {sweep.steps} "
            f"steps each, lr {cfg.lr}, warm-up {sweep.warmup_steps}\n\nPlot: `{plot}`\n\n"
            f"{sweep_markdown(rows)}\n"
        )
    wall = time.perf_counter() - start
    setup["wall_s"] = wall
    if args.tables_only:
        sections.append(
            "Tables only (`--tables-only`): the runs were trained by earlier commands.\n"
        )
    else:
        sections.append(
            f"Wall time: {wall / 60:.1f} min ({setup['torch_threads']} torch threads).\n"
        )
    # One file per part, so the main comparison and the sweep can run as separate processes
    # into the same OUT; results.md joins whatever parts exist.
    part = "main" if args.no_sweep else "sweep" if args.no_main else "all"
    (out / f"{part}.md").write_text("\n".join(sections), encoding="utf-8")
    (out / f"{part}.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    parts = [out / f"{name}.md" for name in ("all", "main", "sweep")]
    joined = "\n".join(p.read_text(encoding="utf-8") for p in parts if p.exists())
    (out / "results.md").write_text(joined, encoding="utf-8")
    write_run_records(out)  # every evaluated run under OUT, whichever process trained it
    log(f"done in {wall / 60:.1f} min: {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
