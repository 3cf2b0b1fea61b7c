"""The follow-up paper's claims at laptop scale: sentence-embedding training of CyCLIP's text tower.

Zhao et al. (Findings of ACL 2024) report that SimCSE-style training of the text encoder of CyCLIP
(1) improves the language encoder (STS), (2) improves CyCLIP's cross-modal results, (3) raises
text-space uniformity and (4) lowers cross-modal alignment. Five methods, same model, data, seeds,
optimiser, schedule, steps and batch size (the claims machinery of experiments/paper_claims.py):

- ``clip``, ``cyclip``;
- ``cyclip+unsup``: CyCLIP + λ · unsupervised SimCSE on the training captions;
- ``cyclip+sup``: CyCLIP + λ · supervised SimCSE on SNLI triplets (../shared/data/nli);
- ``cyclip-minilm``: CyCLIP with the pretrained all-MiniLM-L6-v2 text tower, locked (LiT), on the
  same image tower (an upper reference: it was trained on NLI and caption pairs among a billion
  others; fully trained at this learning rate it is wrecked within a few steps).

λ is chosen per term on a validation criterion, **STS-B dev Spearman** (the dev split, never
reported as a result), from a sweep that is reported in full. Measured: STS-B test (overall and
its captions genre), SICK-R test, builtin ``shapes/sts``, text uniformity, alignment, modality gap,
zero-shot, retrieval and consistency@k.

    .venv/bin/python experiments/language_encoder.py --out experiments/results/language_encoder
    .venv/bin/python experiments/language_encoder.py --out /tmp/lang --quick      # minutes

Writes ``results.md`` (sweep table, headline table with Δ vs CyCLIP and Welch verdicts, the four
claims) and ``summary.json`` under OUT; per-run folders ``runs/<name>-seed<k>/`` (git-ignored)
hold training logs, checkpoints and ``eval/`` JSONs. Runs already evaluated are reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
import time
from pathlib import Path

import torch

from cyclip.data import DataConfig
from cyclip.data.sentences import with_triplets
from cyclip.evaluation import ExtractConfig, FeatureCache, SuiteConfig, evaluate_model, load_model
from cyclip.evaluation.pipeline import open_task
from cyclip.evaluation.registry import TaskRequest
from cyclip.experiments import ClaimsConfig, evaluate_run, render_pairs
from cyclip.experiments.claims import experiment_run_config, stopped
from cyclip.experiments.pairs import TensorPairLoader
from cyclip.experiments.stats import collect_metrics, compare, summarise
from cyclip.models import create_model
from cyclip.rundir import RunDir
from cyclip.train import LossConfig, ModelConfig, OptimConfig, TrainConfig, train

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
for parent in Path(__file__).resolve().parents:  # a worktree under wt/ sees the same shared/
    if (parent / "shared" / "data").is_dir():
        SHARED = parent / "shared"
        break
NLI = SHARED / "data" / "nli" / "snli_dev_test_triplets.csv"
STSB = SHARED / "data" / "sts" / "stsbenchmark"
SICK = SHARED / "data" / "sts" / "sick" / "SICK_test_annotated.txt"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    loss: str  # clip | cyclip
    sentence_term: str = "none"
    text_tower: Path | None = None
    lock_text: bool = False


METHODS = (
    Method("clip", "clip"),
    Method("cyclip", "cyclip"),
    Method("cyclip+unsup", "cyclip", "unsupervised"),
    Method("cyclip+sup", "cyclip", "supervised"),
    Method("cyclip-minilm", "cyclip", text_tower=MINILM, lock_text=True),
)
QUICK = ClaimsConfig(
    model="cyclip-tiny",
    train_pairs=1024,
    batch_size=64,
    steps=6,
    warmup_steps=2,
    seeds=(0, 1),
    suite=SuiteConfig(
        test_size=64,
        train_size=128,
        retrieval_size=32,
        geometry_size=64,
        compositional=False,
        linear_probe=False,
        sts_size=200,
    ),
)
# The text-side claims at the ViT's budget (cyclip-rn-tiny learns shape but costs ~3x per run,
# and five methods plus the λ sweep at 4 seeds would not fit the experiment's hour).
FULL = ClaimsConfig(
    model="cyclip-tiny",
    steps=400,
    warmup_steps=40,
    seeds=(0, 1, 2, 3),
    suite=SuiteConfig(compositional=False),
)
QUICK_LAMBDAS, FULL_LAMBDAS = (0.1, 1.0), (0.03, 0.1, 0.3, 1.0)

# (label, metric key, claim it measures, the claimed direction of sentence training's effect)
ROWS = (
    ("STS-B test Spearman", "stsbenchmark/test/sts/spearman", "1. language encoder", +1),
    (
        "STS-B test captions Spearman",
        "stsbenchmark/test/sts_genre/captions/spearman",
        "1. language encoder",
        +1,
    ),
    ("SICK-R test Spearman", "sick/test/sts/spearman", "1. language encoder", +1),
    ("builtin STS Spearman", "shapes/sts/sts/spearman", "1. language encoder", +1),
    ("zero-shot shape top-1", "shapes/shape/test/zero_shot/top1", "2. cross-modal", +1),
    (
        "zero-shot colour-shape top-1",
        "shapes/colour-shape/test/zero_shot/top1",
        "2. cross-modal",
        +1,
    ),
    ("retrieval mean recall", "shapes/retrieval/retrieval/mean_recall", "2. cross-modal", +1),
    (
        "colour-shape consistency@5",
        "shapes/colour-shape/test/consistency/consistency@5",
        "2. cross-modal",
        +1,
    ),
    # uniformity: more negative = more uniform, so "higher uniformity" is a lower value
    (
        "text uniformity (lower = more uniform)",
        "shapes/val/geometry/uniformity_text",
        "3. uniformity",
        -1,
    ),
    # alignment: E‖I − T‖², so "lower alignment" is a higher value
    (
        "alignment E‖I−T‖² (higher = less aligned)",
        "shapes/val/geometry/alignment",
        "4. alignment",
        +1,
    ),
    ("modality gap", "shapes/val/geometry/modality_gap", "", 0),
)
CRITERION = "stsbenchmark/dev/sts/spearman"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def train_run(
    cfg: ClaimsConfig, method: Method, lam: float, seed: int, runs: Path, pairs, tokenizer
) -> Path:
    name = f"{method.name}" + (f"-lam{lam:g}" if method.sentence_term != "none" else "")
    run_dir = runs / f"{name}-seed{seed}"
    if list(RunDir(run_dir).eval.glob("*.json")) and RunDir(run_dir).latest.is_file():
        return run_dir  # already trained and evaluated
    sup = method.sentence_term == "supervised"
    tc = TrainConfig(
        model=ModelConfig(
            name=cfg.model,
            text_tower=None if method.text_tower is None else str(method.text_tower),
            lock_text=method.lock_text,
        ),
        data=DataConfig(
            val_data=None,
            batch_size=cfg.batch_size,
            workers=0,
            sentence_data=str(NLI) if sup else None,
            sentence_batch_size=cfg.batch_size,
        ),
        loss=LossConfig(
            name=method.loss,  # type: ignore[arg-type]
            normalization=cfg.normalization,
            sentence_term=method.sentence_term,  # type: ignore[arg-type]
            lambda_sentence=lam,
        ),
        optim=OptimConfig(lr=cfg.lr, warmup_steps=cfg.warmup_steps, max_steps=cfg.steps),
        run=experiment_run_config(runs, run_dir.name, seed, cfg.steps),
    )
    loader = TensorPairLoader(*pairs, batch_size=cfg.batch_size, seed=seed)
    if sup:
        loader = with_triplets(loader, NLI, tokenizer, batch_size=cfg.batch_size, seed=seed)
    start = time.perf_counter()
    stopped(train(tc, loader=loader))  # a signal: stop here, never evaluate a half-trained run
    train_s = time.perf_counter() - start
    eval_s = evaluate_run(run_dir, cfg.suite)
    eval_s += evaluate_sts(run_dir)
    log(f"{run_dir.name}: trained in {train_s:.0f}s, evaluated in {eval_s:.0f}s")
    return run_dir


def evaluate_sts(run_dir: Path) -> float:
    """STS-B test and dev, SICK-R test into ``run_dir/eval``."""
    start = time.perf_counter()
    model = load_model(RunDir(run_dir).latest, device="cpu")
    sets = {"stsb-test": (STSB, "test"), "stsb-dev": (STSB, "dev"), "sick-test": (SICK, "test")}
    for name, (path, split) in sets.items():
        if not Path(path).exists():
            continue
        task = open_task("sts", TaskRequest(data=str(path), options={"split": split}))
        evaluation = evaluate_model(
            model,
            [task],
            output_dir=None,
            extract=ExtractConfig(workers=0, device="cpu"),
            cache=FeatureCache(None),
        )
        (result,) = evaluation.results.values()
        out = RunDir(run_dir).eval / f"{name}.sts.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=float))
    return time.perf_counter() - start


def metrics_of(run_dir: Path) -> dict[str, float]:
    return collect_metrics(run_dir)  # STS files are keyed <set>/<split>/sts/...


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("experiments/results/language_encoder"))
    p.add_argument("--quick", action="store_true", help="tiny settings, minutes (smoke)")
    p.add_argument("--lambdas", type=float, nargs="+", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--steps", type=int, default=None)
    args = p.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.seeds:
        cfg = dataclasses.replace(cfg, seeds=tuple(args.seeds))
    if args.steps:
        cfg = dataclasses.replace(cfg, steps=args.steps)
    lambdas = tuple(args.lambdas or (QUICK_LAMBDAS if args.quick else FULL_LAMBDAS))
    runs = args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    started = time.time()

    @functools.cache
    def bundle_pairs(tower: Path | None):
        bundle = create_model(cfg.model, text_tower=None if tower is None else str(tower))
        return render_pairs(bundle, cfg.train_pairs), bundle.tokenizer

    def run(method: Method, lam: float, seed: int) -> dict[str, float]:
        pairs, tokenizer = bundle_pairs(method.text_tower)
        return metrics_of(train_run(cfg, method, lam, seed, runs, pairs, tokenizer))

    # 1. the λ sweep of each sentence term on the validation criterion (first seed only)
    sweep: dict[str, dict[float, float]] = {}
    chosen: dict[str, float] = {}
    for method in METHODS:
        if method.sentence_term == "none":
            continue
        sweep[method.name] = {
            lam: run(method, lam, cfg.seeds[0]).get(CRITERION, math.nan) for lam in lambdas
        }
        chosen[method.name] = max(lambdas, key=lambda lam: _or_low(sweep[method.name][lam]))
        log(f"{method.name}: λ = {chosen[method.name]} by {CRITERION} ({sweep[method.name]})")
    # 2. every method over the seeds
    per_method: dict[str, list[dict[str, float]]] = {}
    for method in METHODS:
        if method.text_tower is not None and not method.text_tower.is_dir():
            log(f"{method.name}: skipped, no {method.text_tower}")
            continue
        lam = chosen.get(method.name, 0.0)
        per_method[method.name] = [run(method, lam, seed) for seed in cfg.seeds]
    text, summary = render(
        cfg, lambdas, sweep, chosen, per_method, time.time() - started, args.quick
    )
    (args.out / "results.md").write_text(text)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    print(text)
    return 0


def _or_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def render(cfg, lambdas, sweep, chosen, per_method, seconds, quick) -> tuple[str, dict]:
    methods = list(per_method)
    lines = [
        "# The language encoder: sentence-embedding training of CyCLIP's text tower",
        "",
        f"{'Quick mode (a smoke run: too short to support any claim). ' if quick else ''}"
        f"Model {cfg.model}, {cfg.steps} steps of batch {cfg.batch_size} on {cfg.train_pairs} "
        f"builtin pairs, lr {cfg.lr}, seeds {list(cfg.seeds)}; mean ± std over seeds. Δ = method − "
        "cyclip; 'yes' = |Δ| > 2 Welch SE. Wall time "
        f"{seconds / 60:.1f} min.",
        "",
        f"## λ sweep (criterion: {CRITERION}, seed {cfg.seeds[0]})",
        "",
        "| term | " + " | ".join(f"λ={lam:g}" for lam in lambdas) + " | chosen |",
        "|---|" + "---:|" * (len(lambdas) + 1),
    ]
    for name, values in sweep.items():
        cells = " | ".join(f"{values[lam]:.2f}" for lam in lambdas)
        lines.append(f"| {name} | {cells} | {chosen[name]:g} |")
    lines += ["", "## Headline table", ""]
    lines.append("| metric | " + " | ".join(methods) + " | Δ unsup | Δ sup |")
    lines.append("|---|" + "---:|" * (len(methods) + 2))
    data: dict = {"rows": {}, "claims": {}, "sweep": sweep, "chosen": chosen}
    claims: dict[str, list[str]] = {}
    for label, key, claim, direction in ROWS:
        if not all(key in r for runs in per_method.values() for r in runs):
            continue
        values = {m: [r[key] for r in runs] for m, runs in per_method.items()}
        cells = [summarise(v).format() for v in values.values()]
        deltas = []
        for challenger in ("cyclip+unsup", "cyclip+sup"):
            if challenger not in values or "cyclip" not in values:
                deltas.append("n/a")
                continue
            c = compare(values["cyclip"], values[challenger])
            deltas.append(f"{c.diff:+.2f} ({c.verdict()})")
            if claim:
                holds = c.exceeds_noise and math.copysign(1, c.diff) == direction
                claims.setdefault(claim, []).append(
                    f"{challenger} {label}: {'holds' if holds else 'not shown'} "
                    f"(Δ {c.diff:+.3f} ± {c.se:.3f})"
                )
        lines.append(f"| {label} | {' | '.join(cells)} | {' | '.join(deltas)} |")
        data["rows"][key] = values
    lines += ["", "## The paper's four claims at this scale", ""]
    for claim, verdicts in sorted(claims.items()):
        lines.append(f"- **{claim}**: " + "; ".join(verdicts))
    data["claims"] = claims
    return "\n".join(lines) + "\n", data


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
