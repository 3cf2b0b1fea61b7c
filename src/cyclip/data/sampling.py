"""Sample order for map-style training sources, identical for any number of processes.

The order of epoch ``e`` is a permutation seeded by ``(seed, e)``. Global batch ``k`` is
``perm[k*G:(k+1)*G]`` with ``G = batch_size * world_size`` (the last partial global batch is
dropped), and rank ``r`` takes the ``r``-th contiguous slice of ``batch_size`` of each global
batch. Concatenating the ranks' batches in rank order therefore gives exactly the batch of one
process with ``batch_size * world_size``, which, with a loss over the gathered batch, makes a
distributed run equal to a single-process one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def epoch_permutation(num_items: int, seed: int, epoch: int) -> np.ndarray:
    """(num_items,) int64: the sample order of an epoch, a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_items)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of the random augmentations of one item in one epoch: fresh each epoch, and the same
    whatever the number of workers or processes, so resumed runs redo exactly the same ones."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class EpochBatchSampler:
    """Yields this rank's batches of one epoch as lists of ``(epoch, index)`` requests.

    The epoch travels with each index so that persistent DataLoader workers, which keep their own
    copy of the dataset, still seed augmentations by epoch.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        samples_per_epoch: int | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        used = num_items if samples_per_epoch is None else min(samples_per_epoch, num_items)
        global_batch = batch_size * world_size
        if used < global_batch:
            raise ValueError(
                f"{used} samples per epoch is less than one global batch (batch_size {batch_size} x "
                f"{world_size} processes = {global_batch}); lower --data.batch-size or use more data"
            )
        self.num_items = num_items
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.num_batches = used // global_batch
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch {start_batch} outside 0..{self.num_batches}")
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        """Batches per epoch, ignoring ``start_batch``."""
        return self.num_batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        # Only this epoch's order is computed: skipped batches are never loaded.
        perm = epoch_permutation(self.num_items, self.seed, self.epoch)
        global_batch = self.batch_size * self.world_size
        for k in range(self.start_batch, self.num_batches):
            start = k * global_batch + self.rank * self.batch_size
            yield [(self.epoch, int(i)) for i in perm[start : start + self.batch_size]]
