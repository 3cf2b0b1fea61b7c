"""In-test stand-ins honouring the ``cyclip.data.TrainLoader`` contract, on generated tensors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


class TensorPairLoader:
    """Pairs of random images (N, 3, S, S) and token rows (N, L) served like cyclip.data serves
    map-style sources: the epoch order is a permutation seeded by (seed, epoch); global batch k is
    ``perm[k*G:(k+1)*G]`` with ``G = batch_size * world_size`` (last partial batch dropped); rank r
    takes the r-th contiguous slice of ``batch_size``; ``set_epoch(e, start_batch=k)`` skips k
    batches without producing them.

    ``nan_batches`` (global batch indices) get NaN images, and ``bad_per_batch`` pretends that
    many samples of every batch were unreadable (dropped and counted), to exercise the guards.
    """

    def __init__(
        self,
        n: int = 64,
        *,
        batch_size: int = 8,
        image_size: int = 32,
        context_length: int = 16,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        nan_batches: tuple[int, ...] = (),
        bad_per_batch: int = 0,
    ) -> None:
        g = torch.Generator().manual_seed(1234)
        self.images = torch.randn(n, 3, image_size, image_size, generator=g)
        # token ids in [1, 1000) then an end-of-text id that is the row's maximum, as open_clip's
        # argmax pooling expects
        self.texts = torch.randint(1, 1000, (n, context_length), generator=g)
        self.texts[:, -1] = 49407
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        self.nan_batches, self.bad_per_batch = set(nan_batches), bad_per_batch
        self.epoch = self.start_batch = 0

    def __len__(self) -> int:
        return self.images.shape[0] // (self.batch_size * self.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        n = self.images.shape[0]
        perm = torch.randperm(
            n, generator=torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        )
        g = self.batch_size * self.world_size
        for k in range(self.start_batch, len(self)):
            lo = k * g + self.rank * self.batch_size
            idx = perm[lo : lo + self.batch_size]
            idx = idx[: len(idx) - self.bad_per_batch] if self.bad_per_batch else idx
            images = self.images[idx].clone()
            if k in self.nan_batches:
                images.fill_(float("nan"))
            yield {
                "images": images,
                "texts": self.texts[idx],
                "n_skipped": self.bad_per_batch,
                "skipped_examples": [f"img_{k}_{j}.jpg" for j in range(self.bad_per_batch)],
            }
