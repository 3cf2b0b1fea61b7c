"""Fixtures for the data tests: generated images, CSV files, shards, and the tiny model's transforms."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from data_helpers import add_member, coloured_image, png_bytes

from cyclip.models import create_model

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data_dir() -> Path:
    """The real data sets beside the repository; skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA.resolve()} does not exist")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_bundle():
    torch.manual_seed(0)
    return create_model("cyclip-tiny")


@pytest.fixture
def make_pairs_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write n PNG images (colour = index) and a CSV ``image,caption`` with captions ``"item i"``."""

    def make(
        n: int, *, name: str = "pairs.csv", sep: str = ",", header=("image", "caption")
    ) -> Path:
        folder = tmp_path / "images"
        folder.mkdir(exist_ok=True)
        lines = [sep.join(header)]
        for i in range(n):
            coloured_image(i).save(folder / f"{i:05d}.png")
            lines.append(sep.join([f"images/{i:05d}.png", f"item {i}"]))
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return make


@pytest.fixture
def make_shards(tmp_path: Path) -> Callable[..., list[Path]]:
    """Write ``n_shards`` tar shards of ``per_shard`` samples ``KEY.png`` + ``KEY.txt`` (``item i``)."""

    def make(
        n_shards: int, per_shard: int, *, drop_txt: set[int] = frozenset(), folder: str = "shards"
    ) -> list[Path]:
        out = tmp_path / folder
        out.mkdir(exist_ok=True)
        paths = []
        for s in range(n_shards):
            path = out / f"{s:05d}.tar"
            with tarfile.open(path, "w") as tar:
                for j in range(per_shard):
                    i = s * per_shard + j
                    add_member(tar, f"{i:06d}.png", png_bytes(coloured_image(i)))
                    if i not in drop_txt:
                        add_member(tar, f"{i:06d}.txt", f"item {i}".encode())
            paths.append(path)
        return paths

    return make
