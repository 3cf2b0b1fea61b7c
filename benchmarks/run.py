"""cyclip's performance benchmark harness: every measurement in one invocation.

    .venv/bin/python benchmarks/run.py --out benchmarks/results            # full (~20 min idle)
    .venv/bin/python benchmarks/run.py --out /tmp/bench --quick            # plumbing, minutes
    .venv/bin/python benchmarks/run.py --out /tmp/bench --device cuda      # + ViT-B-32 on a GPU

Sections (``--sections``): ``train`` (cyclip train vs open_clip_train, CLIP loss: fp32 and bf16
with each trainer's defaults, and fp32 with torch.compile), ``steps`` (in-process full training
steps on a synthetic batch: CyCLIP vs CLIP, Cy-SigLIP vs SigLIP, SigLIP vs CLIP, bf16 vs fp32,
bf16 attention kernels),
``precision`` (bf16 vs fp32 loss curves against the seed-to-seed gap), ``regularizer`` (naive vs
Gram cyclic terms, time and peak RSS, each size in a fresh subprocess), ``pipeline`` (loader
images/s alone), ``eval`` (feature extraction vs forward pass; cached re-evaluation), ``cuda``
(only with ``--device cuda``).
Compared variants are interleaved (A B A B ...) so machine noise hits all of them; each number is
the median over repetitions, with min and max. Writes ``results.md`` and ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline_eval  # noqa: E402
import regularizer  # noqa: E402
import steps  # noqa: E402
import torch  # noqa: E402
import train_runs  # noqa: E402

from cyclip.rundir import CHECKPOINT_DIR  # noqa: E402

SECTIONS = ("train", "steps", "precision", "regularizer", "pipeline", "eval", "cuda")
CIFAR_MINI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-test-mini"


@dataclass(frozen=True)
class Settings:
    """Sizes of one harness run (``--quick`` shrinks them all)."""

    model: str = "cyclip-small"
    train_batch: int = 128
    train_steps: int = 24  # per run, one epoch of that many batches
    train_skip: int = 4  # warm-up steps left out of the steady-state rate
    train_reps: int = 3
    workers: int = 2
    step_batch: int = 256
    step_iters: int = 12
    step_warmup: int = 2
    curve_steps: int = 300  # precision: loss curves of this many steps, bf16 vs fp32
    curve_window: int = 50  # compared as means over consecutive windows of this many steps
    reg_sizes: tuple[int, ...] = (256, 1024, 4096, 8192, 16384, 32768)
    reg_dim: int = 512
    reg_repeats: int = 1
    reg_max_mem_gib: float = 16.0
    pipe_images: int = 1024
    pipe_epochs: int = 1
    pipe_reps: int = 2
    eval_batch: int = 256
    eval_reps: int = 2
    cuda_model: str = "ViT-B-32"
    cuda_batch: int = 256


QUICK = Settings(
    train_batch=64,
    train_steps=4,
    train_skip=2,
    train_reps=1,
    step_batch=64,
    step_iters=2,
    step_warmup=1,
    curve_steps=8,
    curve_window=4,
    reg_sizes=(256, 1024),
    reg_repeats=1,
    pipe_images=256,
    pipe_reps=1,
    eval_reps=1,
    cuda_batch=64,
)


def stats(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


class Report:
    """Rows of the results table and the target checks, written as Markdown and JSON."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.targets: list[dict] = []
        self.notes: list[str] = []
        self.raw: dict = {}

    def row(self, section: str, what: str, values: list[float], unit: str) -> None:
        self.rows.append({"section": section, "what": what, "unit": unit, **stats(values)})

    def target(self, name: str, measured: float | None, goal: str, met: bool | None, how: str):
        self.targets.append(
            {"target": name, "measured": measured, "goal": goal, "met": met, "how": how}
        )

    def markdown(self, header: str) -> str:
        lines = [header, "", "| section | measurement | median | min | max | n | unit |"]
        lines.append("|---|---|---:|---:|---:|---:|---|")
        for r in self.rows:
            lines.append(
                f"| {r['section']} | {r['what']} | {_fmt(r['median'])} | {_fmt(r['min'])} | "
                f"{_fmt(r['max'])} | {r['n']} | {r['unit']} |"
            )
        lines += ["", "| target | measured | goal | met | how |", "|---|---:|---|---|---|"]
        for t in self.targets:
            met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            measured = "-" if t["measured"] is None else _fmt(t["measured"])
            lines.append(f"| {t['target']} | {measured} | {t['goal']} | {met} | {t['how']} |")
        if self.notes:
            lines += ["", *[f"- {n}" for n in self.notes]]
        return "\n".join(lines) + "\n"


def _fmt(x: float) -> str:
    if x == 0 or abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def median_of(values: list[float]) -> float:
    return statistics.median(values)


# ------------------------------------------------------------------------------- sections


def section_train(s: Settings, work: Path, rep: Report) -> dict:
    csv = train_runs.export_csv(work / "train-csv", s.train_steps * s.train_batch)
    T = train_runs.TrainRun
    runs = [
        T("cyclip", "fp32"),
        T("open_clip", "fp32"),
        T("cyclip", "bf16"),
        T("open_clip", "bf16"),
        T("cyclip", "fp32", compiled=True),
        T("open_clip", "fp32", compiled=True),
    ]
    res = train_runs.compare(
        runs,
        csv,
        work / "train-runs",
        model=s.model,
        batch=s.train_batch,
        workers=s.workers,
        reps=s.train_reps,
        skip=s.train_skip,
        log=log,
    )
    for r in runs:
        rep.row("train", f"{r.name} (b{s.train_batch})", res[r.name]["samples_per_s"], "samples/s")
        best = res[r.name]["best_samples_per_s"]
        rep.row("train", f"{r.name} (b{s.train_batch}), fastest step", best, "samples/s")
    rate = {name: median_of(v["samples_per_s"]) for name, v in res.items()}
    how = (
        f"{s.model}, batch {s.train_batch}, {s.workers} workers, CSV of JPEGs, median "
        f"steady-state step after {s.train_skip} warm-up steps"
    )
    for p in ("fp32", "bf16"):
        ratio = rate[f"cyclip clip {p}"] / rate[f"open_clip {p}"]
        rep.target(
            f"1. cyclip / open_clip_train throughput, CLIP, {p}",
            ratio,
            ">= 1.1",
            ratio >= 1.1,
            f"defaults of both; {how}",
        )
    for name, reference in (
        ("cyclip clip fp32 compiled", "open_clip fp32"),
        ("cyclip clip fp32 compiled", "open_clip fp32 compiled"),
    ):
        ratio = rate[name] / rate[reference]
        rep.target(
            f"1. {name} / {reference}",
            ratio,
            ">= 1.1",
            ratio >= 1.1,
            f"--model.torch-compile vs {'--torchcompile' if 'compiled' in reference else 'no compile'}; {how}",
        )
    curve_fp32, curve_bf16 = res["cyclip clip fp32"]["loss"], res["cyclip clip bf16"]["loss"]
    n = min(len(curve_fp32), len(curve_bf16))
    diff = max(abs(a - b) for a, b in zip(curve_fp32[:n], curve_bf16[:n]))
    rep.row("train", "max |loss fp32 - loss bf16| over the run", [diff], "nats")
    return {"runs": res, "loss_max_abs_diff": diff, "csv": str(csv)}


def section_steps(s: Settings, rep: Report) -> dict:
    variants = {
        "clip fp32": ("fp32", steps.CLIP),
        "cyclip fp32": ("fp32", steps.CYCLIP),
        "siglip fp32": ("fp32", steps.SIGLIP),
        "cy-siglip fp32": ("fp32", steps.CY_SIGLIP),
        "clip bf16": ("bf16", steps.CLIP),
        "cyclip bf16": ("bf16", steps.CYCLIP),
        # torch's own SDPA kernel choice (flash on CPU), as open_clip_train runs bf16.
        "clip bf16, torch attention kernel": ("bf16", steps.CLIP, "torch"),
    }
    res = steps.step_comparison(
        s.model, variants, batch=s.step_batch, steps=s.step_iters, warmup=s.step_warmup
    )
    for name, r in res.items():
        rep.row("steps", f"{name} step (b{s.step_batch}, synthetic)", r["step_s"], "s")
    med = {name: r["median_s"] for name, r in res.items()}
    for p in ("fp32", "bf16"):
        ratio = med[f"cyclip {p}"] / med[f"clip {p}"]
        rep.target(
            f"2. CyCLIP / CLIP step time, {p}",
            ratio,
            "<= 1.02",
            ratio <= 1.02,
            f"full step, {s.model}, batch {s.step_batch}, synthetic batch, interleaved",
        )
    for name, (num, den) in {
        "Cy-SigLIP / SigLIP step time, fp32": ("cy-siglip fp32", "siglip fp32"),
        "SigLIP / CLIP step time, fp32": ("siglip fp32", "clip fp32"),
    }.items():
        rep.target(
            f"2. {name}",
            med[num] / med[den],
            "(report)",
            None,
            f"full step, {s.model}, batch {s.step_batch}, synthetic batch, interleaved with CLIP "
            "and CyCLIP",
        )
    ratio = med["clip fp32"] / med["clip bf16"]
    rep.target(
        "4. bf16 / fp32 step throughput (in-process)",
        ratio,
        ">= 1.5",
        ratio >= 1.5,
        f"full step, {s.model}, batch {s.step_batch}, CLIP loss, attention kernel auto (math)",
    )
    ratio = med["clip fp32"] / med["clip bf16, torch attention kernel"]
    rep.target(
        "4. bf16 / fp32 step throughput, torch's attention kernel",
        ratio,
        ">= 1.5",
        ratio >= 1.5,
        "as above with torch's SDPA choice (flash), which open_clip_train gets",
    )
    return res


def section_precision(s: Settings, work: Path, rep: Report) -> dict:
    """Is the bf16 loss curve the fp32 one within seed noise? Three ``cyclip train`` runs:
    fp32 and bf16 with seed 0, fp32 with seed 1 (the noise reference: same precision, different
    initialisation and data order)."""
    curves = {}
    for precision, seed in (("fp32", 0), ("bf16", 0), ("fp32", 1)):
        log(f"  {precision} seed {seed}: {s.curve_steps} steps")
        curves[f"{precision} seed {seed}"] = train_runs.loss_curve(
            precision,
            seed,
            work / "curves",
            model=s.model,
            batch=s.train_batch,
            workers=s.workers,
            steps=s.curve_steps,
        )

    def windows(curve: list[float]) -> list[float]:
        w = s.curve_window
        return [statistics.fmean(curve[i : i + w]) for i in range(0, len(curve) - w + 1, w)]

    ref = windows(curves["fp32 seed 0"])
    gap = {
        name: max(abs(a - b) for a, b in zip(windows(curves[name]), ref))
        for name in ("bf16 seed 0", "fp32 seed 1")
    }
    for name, value in gap.items():
        rep.row(
            "precision",
            f"max |window-mean loss - fp32 seed 0|, {name} ({s.curve_steps} steps)",
            [value],
            "nats",
        )
    final = {name: statistics.fmean(c[-s.curve_window :]) for name, c in curves.items()}
    for name, value in final.items():
        rep.row("precision", f"loss over the last {s.curve_window} steps, {name}", [value], "nats")
    within = gap["bf16 seed 0"] <= gap["fp32 seed 1"]
    rep.target(
        "4. bf16 loss curve vs fp32: largest gap / seed-to-seed gap",
        gap["bf16 seed 0"] / gap["fp32 seed 1"],
        "<= 1",
        within,
        f"{s.model}, batch {s.train_batch}, builtin world, {s.curve_steps} steps, means over "
        f"windows of {s.curve_window} steps; reference = fp32 with another seed",
    )
    return {"curves": curves, "gap": gap, "final": final}


def section_regularizer(s: Settings, rep: Report) -> list[dict]:
    rows = []
    for n in s.reg_sizes:
        for method in regularizer.IMPLEMENTATIONS:
            row = regularizer.run(method, n, s.reg_dim, s.reg_repeats, s.reg_max_mem_gib)
            rows.append(row)
            if "skipped" in row:
                rep.notes.append(f"regularizer {method} N={n}: skipped, {row['skipped']}")
                log(f"  {method} N={n}: skipped ({row['skipped']})")
                continue
            rep.row("regularizer", f"{method} N={n} time", row["time_s"], "s")
            rep.row("regularizer", f"{method} N={n} peak memory", [row["extra_mib"]], "MiB")
            log(f"  {method} N={n}: {row['median_s'] * 1e3:.1f} ms, +{row['extra_mib']:.0f} MiB")
    by = {(r["method"], r["n"]): r for r in rows if "skipped" not in r}
    n = 16384 if ("naive", 16384) in by else max((k[1] for k in by if k[0] == "naive"), default=0)
    if ("naive", n) in by and ("gram", n) in by:
        naive, gram = by[("naive", n)], by[("gram", n)]
        rep.target(
            f"3. naive / Gram time, N={n}, d={s.reg_dim}",
            naive["median_s"] / gram["median_s"],
            ">= 10",
            naive["median_s"] / gram["median_s"] >= 10,
            "forward+backward of both cyclic terms, fresh subprocess per (method, N)",
        )
        # RSS is counted in pages above a baseline: a Gram step can add ~0 MiB; floor at 1 MiB.
        mem_ratio = naive["extra_mib"] / max(gram["extra_mib"], 1.0)
        rep.target(
            f"3. naive / Gram peak memory, N={n}",
            mem_ratio,
            ">= 100",
            mem_ratio >= 100,
            f"peak RSS above baseline: naive {naive['extra_mib']:.0f} MiB, "
            f"Gram {gram['extra_mib']:.1f} MiB (floored at 1 MiB)",
        )
        # Both methods must return the (N, d) gradients of both inputs (fp32): that floor caps
        # the ratio above at naive / floor. The regulariser's own working memory is the rest.
        floor = 2 * n * s.reg_dim * 4 / 2**20
        work_ratio = (naive["extra_mib"] - floor) / max(gram["extra_mib"] - floor, 1.0)
        rep.target(
            f"3. naive / Gram peak memory beyond the input gradients, N={n}",
            work_ratio,
            "(report)",
            None,
            f"both minus the {floor:.0f} MiB of input gradients every method returns, which "
            f"caps the ratio above at {naive['extra_mib'] / floor:.0f}x",
        )
    return rows


def section_pipeline(s: Settings, work: Path, rep: Report, consumed: dict | None) -> dict:
    from data_pipeline import write_data

    folder = work / "pipeline-data"
    if not (folder / "pairs.csv").is_file():
        write_data(folder, s.pipe_images, 64, shards=4)
    sources = {
        "CSV of JPEGs": str(folder / "pairs.csv"),
        "webdataset shards": f"{folder}/shards/{{00000..00003}}.tar",
        "builtin world (rendered)": "builtin:shapes/pretrain",
    }
    res = pipeline_eval.loader_rates(
        sources,
        n=s.pipe_images,
        batch=s.train_batch,
        workers=s.workers,
        epochs=s.pipe_epochs,
        reps=s.pipe_reps,
    )
    for name, v in res.items():
        rep.row("pipeline", f"loader alone: {name} ({s.workers} workers)", v, "images/s")
    slowest = min(median_of(v) for v in res.values())
    if consumed:
        fastest_model = max(consumed.values())
        ratio = slowest / fastest_model
        rep.target(
            "5. slowest loader / fastest training consumption",
            ratio,
            ">= 1",
            ratio >= 1,
            f"loader alone (all cores) vs cyclip train samples/s ({s.model})",
        )
    return res


def section_eval(s: Settings, work: Path, rep: Report, checkpoint: Path | None) -> dict:
    out: dict = {}
    if CIFAR_MINI.is_dir():
        res = pipeline_eval.extraction_vs_forward(
            str(CIFAR_MINI.resolve()),
            model=s.model,
            batch=s.eval_batch,
            workers=s.workers,
            reps=s.eval_reps,
        )
        for name, v in res.items():
            rep.row("eval", f"{name} (cifar10-test-mini, b{s.eval_batch})", v, "images/s")
        ratio = median_of(res["feature extraction"]) / median_of(res["forward only"])
        rep.target(
            "6. feature extraction / forward-only images/s",
            ratio,
            "(report)",
            None,
            "decode + preprocess + forward vs forward over preloaded tensors",
        )
        before = median_of(res["feature extraction, per-image float transform"])
        rep.target(
            "6. extraction, uint8 items / per-image float items",
            median_of(res["feature extraction"]) / before,
            "(report)",
            None,
            "items normalised per batch in the main process vs per image in the workers",
        )
        out["extraction"] = res
    else:
        rep.notes.append(f"eval: {CIFAR_MINI} absent, feature extraction not measured")
    if checkpoint is not None:
        cached = pipeline_eval.cached_reevaluation(
            checkpoint, work / "eval-cache-run", batch=s.eval_batch, workers=s.workers
        )
        rep.row("eval", "cyclip eval --suite builtin, cold cache", [cached["cold_s"]], "s")
        rep.row("eval", "cyclip eval --suite builtin, warm cache", [cached["warm_s"]], "s")
        rep.target(
            "6. cached re-evaluation speed-up",
            cached["speedup"],
            "(report)",
            None,
            "same command twice, fresh cache dir",
        )
        out["cached"] = cached
    return out


def section_cuda(s: Settings, rep: Report, device: str) -> dict:
    if device != "cuda" or not torch.cuda.is_available():
        rep.notes.append(
            "cuda: not run (no GPU here); `--device cuda` times full ViT-B-32 224 px training "
            "steps, bf16 vs fp32, CLIP vs CyCLIP"
        )
        return {}
    variants = {
        "clip bf16": ("bf16", steps.CLIP),
        "cyclip bf16": ("bf16", steps.CYCLIP),
        "clip fp32": ("fp32", steps.CLIP),
    }
    res = steps.step_comparison(
        s.cuda_model, variants, batch=s.cuda_batch, steps=10, warmup=3, device="cuda"
    )
    for name, r in res.items():
        rep.row("cuda", f"{s.cuda_model} {name} step (b{s.cuda_batch})", r["step_s"], "s")
    return res


# ------------------------------------------------------------------------------- main


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict:
    import os

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_avg_at_start": os.getloadavg(),
    }


def write(out: Path, quick: bool, raw: dict, rep: Report, started: float) -> str:
    """Write ``results.md`` and ``results.json`` (after every section); returns the Markdown."""
    raw["elapsed_s"] = time.perf_counter() - started
    raw["rows"], raw["targets"], raw["notes"] = rep.rows, rep.targets, rep.notes
    m = raw["machine"]
    header = (
        f"# cyclip benchmarks ({'quick' if quick else 'full'})\n\n"
        f"torch {m['torch']}, {m['cores']} cores, {m['threads']} threads, load average at start "
        f"{m['load_avg_at_start'][0]:.1f}; {raw['elapsed_s'] / 60:.1f} min"
    )
    text = rep.markdown(header)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(raw, indent=2, default=str))
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for results.md/.json")
    p.add_argument("--quick", action="store_true", help="small sizes: checks the plumbing")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: temporary)")
    p.add_argument("--model", default=None, help="model config (default cyclip-small)")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=INT",
        help="override integer settings, e.g. --set train_batch=256 train_steps=12",
    )
    args = p.parse_args(argv)
    s = QUICK if args.quick else Settings()
    overrides = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    unknown = set(overrides) - set(asdict(s))
    if unknown:
        p.error(f"--set: unknown settings {sorted(unknown)}; known: {sorted(asdict(s))}")
    s = Settings(**{**asdict(s), **overrides, **({"model": args.model} if args.model else {})})
    args.out.mkdir(parents=True, exist_ok=True)
    rep = Report()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        raw: dict = {"settings": asdict(s), "machine": machine()}
        started = time.perf_counter()
        consumed, checkpoint = None, None

        def attempt(name: str, fn, *a):
            """Run one section; a failure is reported in the notes, the others still run."""
            if name not in args.sections:
                return None
            log(f"{name}")
            try:
                raw[name] = fn(*a)
            except Exception as exc:  # noqa: BLE001 - the harness keeps the other sections
                rep.notes.append(f"{name}: failed: {type(exc).__name__}: {str(exc)[-500:]}")
                log(f"{name} failed: {exc}")
            write(args.out, args.quick, raw, rep, started)  # partial results survive a kill
            return raw.get(name)

        if attempt("train", section_train, s, work, rep):
            consumed = {
                k: median_of(v["samples_per_s"])
                for k, v in raw["train"]["runs"].items()
                if k.startswith("cyclip clip")
            }
            pattern = f"cyclip-clip-fp32-*/run/{CHECKPOINT_DIR}/*.pt"
            found = sorted((work / "train-runs").glob(pattern))
            checkpoint = found[-1] if found else None
        attempt("steps", section_steps, s, rep)
        attempt("precision", section_precision, s, work, rep)
        attempt("regularizer", section_regularizer, s, rep)
        attempt("pipeline", section_pipeline, s, work, rep, consumed)
        attempt("eval", section_eval, s, work, rep, checkpoint)
        attempt("cuda", section_cuda, s, rep, args.device)
        text = write(args.out, args.quick, raw, rep, started)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
