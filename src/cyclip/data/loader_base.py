"""The interface every training loader offers, and the DataLoader settings they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import torch

from cyclip.data.timeouts import LoaderTimeouts


class TrainLoader(ABC):
    """Batches of one process for one epoch at a time.

    Call :meth:`set_epoch` before iterating each epoch. ``len(loader)`` is the number of batches per
    epoch for this process (the same on every rank); :attr:`num_samples` is the number of samples
    per epoch over all processes (``len * batch_size * world_size``, before bad items are dropped).
    """

    batch_size: int
    world_size: int

    @abstractmethod
    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch to iterate next, starting at batch ``start_batch`` (resume)."""

    @abstractmethod
    def __iter__(self) -> Iterator[dict]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size * self.world_size


def loader_kwargs(workers: int, prefetch_factor: int, timeouts: LoaderTimeouts) -> dict[str, Any]:
    """Persistent workers (they survive epochs), pinned memory when a GPU is there, prefetching,
    the wait for a batch from the workers limited (see :mod:`cyclip.data.timeouts`)."""
    kwargs: dict[str, Any] = {"num_workers": workers, "pin_memory": torch.cuda.is_available()}
    if workers > 0:
        kwargs.update(
            persistent_workers=True,
            prefetch_factor=prefetch_factor,
            timeout=timeouts.dataloader_timeout(workers),
        )
    return kwargs
