"""Throughput of the training input pipeline alone (no model): images per second.

Writes ``n`` JPEGs with a CSV index and the same samples as webdataset shards into a folder, then
times full epochs of :func:`build_train_loader` over each, after one warm-up epoch that starts the
workers. Run ``python benchmarks/data_pipeline.py --help``.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cyclip.data.config import DataConfig
from cyclip.data.train_loader import build_train_loader

_WORDS = (
    "red",
    "blue",
    "small",
    "large",
    "circle",
    "square",
    "dog",
    "on",
    "grass",
    "a",
    "the",
    "near",
)


@dataclass(frozen=True)
class BenchConfig:
    """Pipeline benchmark settings."""

    n: int = 2000
    """Number of generated image-caption pairs."""
    image_size: int = 256
    """Side of the generated JPEGs in pixels (the model's preprocess then resizes them)."""
    model: str = "cyclip-small"
    """Model whose preprocess and tokenizer are used (cyclip-small: 64 px, context 32)."""
    batch_size: int = 256
    workers: int = 2
    epochs: int = 3
    """Timed epochs, after one warm-up epoch."""
    shards: int = 8
    inmodal_augment: bool = False
    """Also produce the augmented views (AutoAugment + EDA) of the in-modal variant."""
    folder: str | None = None
    """Where to write the data (default: a temporary folder)."""


def write_data(
    folder: Path, n: int, image_size: int, shards: int, seed: int = 0
) -> tuple[Path, str]:
    """Write ``n`` JPEGs + ``pairs.csv`` and the same samples as ``shards`` tar files."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "shards").mkdir(exist_ok=True)
    rows = ["image,caption"]
    per_shard = -(-n // shards)
    tars = [tarfile.open(folder / "shards" / f"{s:05d}.tar", "w") for s in range(shards)]
    for i in range(n):
        # smooth colour fields plus noise: JPEG sizes like photos', not like flat colours'
        coarse = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((image_size, image_size), Image.Resampling.BICUBIC)
        noisy = np.asarray(img, dtype=np.int16) + rng.integers(
            -12, 13, size=(image_size, image_size, 3)
        )
        buf = io.BytesIO()
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
            buf, format="JPEG", quality=90
        )
        caption = " ".join(rng.choice(_WORDS, size=int(rng.integers(5, 15))))
        (folder / "images" / f"{i:06d}.jpg").write_bytes(buf.getvalue())
        rows.append(f"images/{i:06d}.jpg,{caption}")
        tar = tars[i // per_shard]
        for name, data in ((f"{i:06d}.jpg", buf.getvalue()), (f"{i:06d}.txt", caption.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    for tar in tars:
        tar.close()
    (folder / "pairs.csv").write_text("\n".join(rows) + "\n")
    return folder / "pairs.csv", f"{folder}/shards/{{00000..{shards - 1:05d}}}.tar"


def images_per_second(
    source: str, cfg: BenchConfig, workers: int | None = None
) -> tuple[float, float]:
    """(samples per second of wall time, CPU milliseconds per sample of this process) over
    ``cfg.epochs`` epochs of the training loader of ``source``. With ``workers=0`` the CPU time is
    the whole pipeline's cost per image, independent of what else loads the machine."""
    from cyclip.models import create_model

    bundle = create_model(cfg.model)
    data_cfg = DataConfig(
        train_data=source,
        val_data=None,
        batch_size=cfg.batch_size,
        workers=cfg.workers if workers is None else workers,
        inmodal_augment=cfg.inmodal_augment,
    )
    loader = build_train_loader(data_cfg, bundle.preprocess_train, bundle.tokenizer)
    loader.set_epoch(0)
    for _ in loader:  # warm-up: worker start-up, page cache
        pass
    samples = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(1, cfg.epochs + 1):
        loader.set_epoch(epoch)
        for batch in loader:
            samples += len(batch["images"]) + batch["n_skipped"]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return samples / wall, 1000 * cpu / samples


def run(cfg: BenchConfig) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)  # as in DataLoader workers, for the in-process CPU cost
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(cfg.folder) if cfg.folder else Path(tmp)
        csv_path, shard_spec = write_data(folder, cfg.n, cfg.image_size, cfg.shards)
        for name, source in (("csv_jpeg", str(csv_path)), ("webdataset", shard_spec)):
            results[f"{name}_images_per_s"], _ = images_per_second(source, cfg)
            _, results[f"{name}_cpu_ms_per_image_in_process"] = images_per_second(
                source, cfg, workers=0
            )
    return results


def main(argv: list[str] | None = None) -> int:
    import tyro

    cfg = tyro.cli(BenchConfig, args=argv)
    print(json.dumps({"config": vars(cfg), **run(cfg)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
