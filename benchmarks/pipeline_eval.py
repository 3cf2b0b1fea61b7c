"""Input-pipeline and evaluation throughput.

- Loader alone: images/s that ``build_train_loader`` delivers (no model) over a CSV of JPEGs,
  the same samples as webdataset shards, and the builtin world rendered on the fly
  (as ``benchmarks/data_pipeline.py``, with a fixed number of samples per epoch so that the
  builtin world is not rendered in full).
- Evaluation: zero-shot feature extraction (decode + preprocess + forward, through the eval
  loader) vs a pure forward pass over already preprocessed images at the same batch size; and
  ``cyclip eval --suite builtin`` run twice against a fresh feature cache (the second run reads
  every feature from the cache).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def loader_rates(
    sources: dict[str, str], *, n: int, batch: int, workers: int, epochs: int, reps: int
) -> dict[str, list[float]]:
    """source name -> images/s per repetition (sources interleaved) of the training loader
    alone, ``n`` samples per epoch, after one warm-up epoch that starts the workers."""
    from cyclip.data.config import DataConfig
    from cyclip.data.train_loader import build_train_loader
    from cyclip.models import create_model

    bundle = create_model("cyclip-small")
    loaders = {}
    for name, source in sources.items():
        cfg = DataConfig(
            train_data=source,
            val_data=None,
            batch_size=batch,
            workers=workers,
            train_num_samples=n,
        )
        loaders[name] = build_train_loader(cfg, bundle.preprocess_train, bundle.tokenizer)
    out: dict[str, list[float]] = {name: [] for name in sources}
    for _ in range(reps):
        for name, loader in loaders.items():
            loader.set_epoch(0)
            for _ in loader:  # warm-up: worker start-up, page cache
                pass
            samples, start = 0, time.perf_counter()
            for epoch in range(1, epochs + 1):
                loader.set_epoch(epoch)
                for b in loader:
                    samples += len(b["images"]) + b["n_skipped"]
            out[name].append(samples / (time.perf_counter() - start))
    return out


def extraction_vs_forward(
    data: str, *, model: str, batch: int, workers: int, reps: int, precision: str = "fp32"
):
    """images/s of FeatureExtractor.classification (cache off) and of encode_image alone, both
    in ``precision``; and of the extraction with the per-image float transform (items normalised
    one by one and sent from the workers as float, as before the uint8 split), interleaved so
    the load hits all three alike."""
    from cyclip.data import build_eval_loader, open_classification
    from cyclip.evaluation.cache import FeatureCache
    from cyclip.evaluation.features import ExtractConfig, FeatureExtractor
    from cyclip.models import create_model
    from cyclip.precision import autocast_context

    bundle = create_model(model)
    bundle.model.eval()
    dataset, _ = open_classification(data)
    n = len(dataset)
    extractor = FeatureExtractor(
        bundle,
        None,
        FeatureCache(None),
        ExtractConfig(batch_size=batch, workers=workers, precision=precision),  # type: ignore[arg-type]
    )
    per_image = FeatureExtractor(
        bundle._replace(preprocess_val=_Whole(bundle.preprocess_val)),
        None,
        FeatureCache(None),
        ExtractConfig(batch_size=batch, workers=workers, precision=precision),  # type: ignore[arg-type]
    )
    # The pure forward pass sees the same preprocessed images, loaded beforehand.
    loader = build_eval_loader(dataset, bundle.preprocess_val, batch_size=batch, workers=0)
    images = [b["images"] for b in loader]

    def forward() -> None:
        with torch.inference_mode(), autocast_context("cpu", precision):  # type: ignore[arg-type]
            for x in images:
                bundle.model.encode_image(x, normalize=True)

    out: dict[str, list[float]] = {
        "feature extraction": [],
        "forward only": [],
        "feature extraction, per-image float transform": [],
    }
    for _ in range(reps):
        t0 = time.perf_counter()
        extractor.classification(dataset, None)
        out["feature extraction"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        per_image.classification(dataset, None)
        out["feature extraction, per-image float transform"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        forward()
        out["forward only"].append(n / (time.perf_counter() - t0))
    return out


class _Whole:
    """A transform ``split_eval_transform`` cannot see into: every item is finished (float) in
    the worker, the behaviour before items travelled as uint8."""

    def __init__(self, transform) -> None:
        self.transform = transform

    def __call__(self, image):
        return self.transform(image)

    def __repr__(self) -> str:
        return repr(self.transform)


def cached_reevaluation(checkpoint: Path, work: Path, *, batch: int, workers: int) -> dict:
    """Wall seconds of ``cyclip eval --suite builtin``, cold then warm cache."""
    cache = work / "feature-cache"
    times = []
    for i in range(2):
        cmd = [
            sys.executable, "-m", "cyclip", "eval",
            "--checkpoint", str(checkpoint),
            "--suite", "builtin",
            "--cache-dir", str(cache),
            "--batch-size", str(batch),
            "--workers", str(workers),
            "--output-dir", str(work / f"eval-{i}"),
        ]  # fmt: skip
        if i == 0 and cache.exists():
            raise RuntimeError(f"{cache} must start empty")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return {"cold_s": times[0], "warm_s": times[1], "speedup": times[0] / times[1]}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
