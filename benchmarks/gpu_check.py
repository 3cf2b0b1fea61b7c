"""The GPU check in one command: the paths the CPU machines never run (CUDA bf16, fp16 with the
loss scaler, ViT-B-32 at 224 px), timed against open_clip's own trainer.

    benchmarks/gpu.sh                                  # one CUDA GPU, < 8 minutes
    python benchmarks/gpu_check.py --cpu-smoke         # the same path, tiny, on the CPU (CI)

Steps, each a real run whose failure makes the command exit 1:
1. export ``batch * steps`` pairs of the builtin world as JPEGs + CSV (both trainers read it);
2. ``cyclip train`` and ``open_clip_train`` with the CLIP loss in bf16, same model, data, batch,
   workers, schedule and seed: steady-state samples/s side by side, and cyclip's model FLOP
   utilisation (FLOPs counted on one training step of the model, x achieved samples/s, over the
   GPU's bf16 peak; ``--peak-tflops`` for a GPU not in the table);
3. ``cyclip train`` in fp16 with the loss scaler, and CyCLIP (Gram cyclic terms) in bf16: they
   must finish with finite losses;
4. feature extraction vs a pure forward pass of the trained model's architecture (images/s).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_runs  # noqa: E402

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by a substring of the device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def train_flops_per_sample(model_name: str, image_size: int | None, device: str) -> float:
    """Forward + backward FLOPs of one image-text pair (torch's FLOP counter, batch of 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cyclip.models import create_model

    bundle = create_model(model_name, device=device)
    model = bundle.model.train()
    size = image_size or _image_size(model)
    images = torch.randn(2, 3, size, size, device=device)
    texts = bundle.tokenizer(["a red circle", "two blue squares"]).to(device)
    with FlopCounterMode(display=False) as counter:
        out = model(images, texts)
        if isinstance(out, dict):
            image_features, text_features = out["image_features"], out["text_features"]
        else:
            image_features, text_features = out[0], out[1]
        (image_features @ text_features.T).sum().backward()
    return counter.get_total_flops() / 2


def _image_size(model) -> int:
    size = model.visual.image_size
    return size[0] if isinstance(size, tuple | list) else int(size)


def steady_rate(step_s: list[float], batch: int, skip: int) -> float:
    steady = step_s[skip:]
    if not steady:
        raise RuntimeError(f"{len(step_s)} steps logged, none after the {skip} warm-up steps")
    return batch / statistics.median(steady)


def check_losses(name: str, losses: list[float], steps: int) -> None:
    if len(losses) < steps or not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"{name}: expected {steps} finite losses, got {losses[-5:]}")


def cyclip_run(work: Path, csv: Path, name: str, a, *, loss: str, precision: str, steps: int):
    rows = train_runs.cyclip_train(
        work / name,
        str(csv),
        model=a.model,
        batch=a.batch,
        workers=a.workers,
        loss=loss,
        precision=precision,
        extra=[
            "--loss.normalization",
            "mean",
            "--loss.cyclic-impl",
            "gram",
            "--optim.max-steps",
            str(steps),
            "--data.val-data",
            "None",
            "--run.checkpoint-every",
            "0",
            "--run.device",
            a.device,
        ],  # fmt: skip
    )
    losses = [r["loss"] for r in rows]
    check_losses(name, losses, steps)
    return [a.batch / r["samples_per_s"] for r in rows], losses


def extraction(a, csv: Path) -> dict[str, float]:
    """images/s of cyclip's feature extraction (decode + preprocess + forward, cache off) and of
    the forward pass alone over the same images, preloaded."""
    import torch

    from cyclip.data import build_eval_loader, open_pairs
    from cyclip.evaluation.cache import FeatureCache
    from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
    from cyclip.models import create_model
    from cyclip.precision import autocast_context

    bundle = create_model(a.model, device=a.device)
    bundle.model.eval()
    dataset = open_pairs(str(csv))
    n = min(len(dataset), a.extract_images)
    dataset = torch.utils.data.Subset(dataset, range(n))
    config = ExtractConfig(batch_size=a.batch, workers=a.workers, device=a.device, precision="bf16")
    extractor = FeatureExtractor(bundle, None, FeatureCache(None), config)
    loader = build_eval_loader(dataset, bundle.preprocess_val, batch_size=a.batch, workers=0)
    images = [b["images"].to(a.device) for b in loader]

    def sync() -> None:
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward() -> None:
        with torch.inference_mode(), autocast_context(a.device, "bf16"):
            for x in images:
                bundle.model.encode_image(x, normalize=True)
        sync()

    forward()  # warm-up: kernels chosen, memory allocated
    t0 = time.perf_counter()
    extractor.pairs(dataset, None)
    sync()
    extract_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    forward()
    return {"extraction": extract_rate, "forward only": n / (time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="scratch folder (data, run dirs)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=200, help="steps of the side-by-side runs")
    p.add_argument("--extra-steps", type=int, default=50, help="steps of the fp16 / CyCLIP runs")
    p.add_argument("--skip", type=int, default=20, help="warm-up steps left out of the rate")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--extract-images", type=int, default=10_000)
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak of this device")
    p.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="tiny model, a few steps, on the CPU: the same path, for CI (fp16 run skipped)",
    )
    a = p.parse_args(argv)
    if a.cpu_smoke:
        a.device, a.model, a.batch, a.steps, a.extra_steps = "cpu", "cyclip-tiny", 8, 4, 2
        a.skip, a.workers, a.extract_images = 1, 0, 32
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run with --cpu-smoke on a CPU", file=sys.stderr)
        return 2
    started = time.perf_counter()
    name = torch.cuda.get_device_name() if a.device.startswith("cuda") else "CPU"
    print(f"device {name}, torch {torch.__version__}, model {a.model}, batch {a.batch}", flush=True)

    csv = train_runs.export_csv(a.work / "data", a.batch * a.steps)
    print(f"[1/4] {a.batch * a.steps} pairs exported ({time.perf_counter() - started:.0f} s)")

    print(f"[2/4] CLIP loss, bf16, {a.steps} steps: cyclip train vs open_clip_train", flush=True)
    rates = {}
    for run in (train_runs.TrainRun("cyclip", "bf16"), train_runs.TrainRun("open_clip", "bf16")):
        got = train_runs.run_once(
            run, csv, a.work, model=a.model, batch=a.batch, workers=a.workers, tag="gpu"
        )
        check_losses(run.name, got["loss"], a.steps)
        rates[run.name] = steady_rate(got["step_s"], a.batch, a.skip)
        print(f"  {run.name:<22} {rates[run.name]:9.1f} samples/s", flush=True)
    cyclip_rate = rates["cyclip clip bf16"]
    print(f"  cyclip / open_clip_train: {cyclip_rate / rates['open_clip bf16']:.2f}x")
    flops = train_flops_per_sample(a.model, None, a.device)
    achieved = flops * cyclip_rate / 1e12
    peak = a.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    mfu = f"{100 * achieved / peak:.1f} % of {peak:.0f}" if peak else "n/a (give --peak-tflops)"
    print(
        f"  cyclip model FLOPs: {flops / 1e9:.3g} GFLOP/sample, {achieved:.3g} TFLOP/s, MFU {mfu}"
    )

    print(f"[3/4] {a.extra_steps} steps each: fp16 + loss scaler (CLIP), CyCLIP Gram bf16")
    if a.device.startswith("cuda"):
        step_s, _ = cyclip_run(
            a.work, csv, "fp16", a, loss="clip", precision="fp16", steps=a.extra_steps
        )
        print(f"  fp16 + scaler          {steady_rate(step_s, a.batch, 1):9.1f} samples/s")
    else:
        print("  fp16 + scaler          skipped (fp16 training needs a GPU)")
    step_s, _ = cyclip_run(
        a.work, csv, "cyclip-gram", a, loss="cyclip", precision="bf16", steps=a.extra_steps
    )
    print(f"  CyCLIP Gram bf16       {steady_rate(step_s, a.batch, 1):9.1f} samples/s")

    print(f"[4/4] feature extraction vs forward pass, bf16, {a.extract_images} images", flush=True)
    ext = extraction(a, csv)
    print(
        f"  extraction {ext['extraction']:.0f} images/s, forward only "
        f"{ext['forward only']:.0f} images/s: {ext['extraction'] / ext['forward only']:.2f}x"
    )
    print(f"gpu_check: all steps passed in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
