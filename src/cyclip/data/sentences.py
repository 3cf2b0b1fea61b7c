"""NLI triplets for supervised SimCSE: reading SimCSE's ``sent0,sent1,hard_neg`` CSV, and a
loader that attaches one batch of triplets to every image-text batch.

Order and resume. The triplets are a stream of global batches, epoch after epoch, each epoch a
permutation seeded by ``(seed, epoch)`` exactly as the image-text order
(:mod:`cyclip.data.sampling`); rank ``r`` takes the ``r``-th contiguous slice of each global
batch, so distributed runs equal one process on the concatenated batch. The image-text batch at
``(epoch e, batch b)`` of a loader with ``n`` batches per epoch gets triplet batch number
``e * n + b`` of that stream: a pure function of the trainer's position, so a resumed run
(``set_epoch(e, start_batch=b)``) continues with exactly the triplets of the uninterrupted run,
with no state of its own in the checkpoint.

Bad input. Missing columns and a file with fewer usable triplets than one global batch are a
clear ``ValueError``; rows with an empty (or missing) sentence are skipped and counted.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cyclip.data.loader_base import TrainLoader
from cyclip.data.sampling import epoch_permutation

log = logging.getLogger(__name__)

COLUMNS = ("sent0", "sent1", "hard_neg")
"""SimCSE's supervised layout: premise, entailment hypothesis, contradiction hypothesis."""
_ORDER_SALT = 0x5E27  # the triplet order differs from the image-text order of the same seed


@dataclass(frozen=True)
class Triplets:
    """The usable triplets of a file and what was skipped."""

    rows: list[tuple[str, str, str]]
    n_skipped: int
    """Rows with an empty or missing sentence."""
    source: str


def read_triplets(path: str | Path) -> Triplets:
    """The ``(sent0, sent1, hard_neg)`` rows of a SimCSE NLI CSV (comma- or tab-separated).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the header lacks one of :data:`COLUMNS`, or no usable row is left.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"sentence data not found: {path}; give a CSV with the columns "
            f"{','.join(COLUMNS)} (SimCSE's NLI layout) to --data.sentence-data"
        )
    with path.open(newline="", encoding="utf-8") as f:
        sample = f.readline()
        f.seek(0)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            found = ", ".join(header) if header else "none (empty file)"
            raise ValueError(
                f"{path}: sentence data needs the columns {', '.join(COLUMNS)} (premise, "
                f"entailment, contradiction); missing {', '.join(missing)}, found {found}"
            )
        rows, skipped = [], 0
        for record in reader:
            triplet = tuple((record.get(c) or "").strip() for c in COLUMNS)
            if all(triplet):
                rows.append(triplet)
            else:
                skipped += 1
    if not rows:
        raise ValueError(f"{path}: no triplet with three non-empty sentences ({skipped} skipped)")
    if skipped:
        log.warning("%s: skipped %d triplet(s) with an empty sentence", path, skipped)
    return Triplets(rows, skipped, str(path))  # type: ignore[arg-type]


class TripletStream:
    """Global batches of triplets, numbered from 0 over epochs; this rank's slice of each."""

    def __init__(
        self,
        triplets: Triplets,
        tokenizer: Callable[[list[str]], torch.Tensor],
        *,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ) -> None:
        self.triplets, self.tokenizer = triplets, tokenizer
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.seed = seed
        global_batch = batch_size * world_size
        self.batches_per_epoch = len(triplets.rows) // global_batch
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"{triplets.source}: {len(triplets.rows)} usable triplet(s) "
                f"({triplets.n_skipped} skipped) is less than one global sentence batch "
                f"(--data.sentence-batch-size {batch_size} x {world_size} processes = "
                f"{global_batch}); lower --data.sentence-batch-size or use more data"
            )
        self._perm: tuple[int, np.ndarray] | None = None

    def indices(self, number: int) -> np.ndarray:
        """Row indices of this rank's slice of global batch ``number``."""
        epoch, k = divmod(number, self.batches_per_epoch)
        if self._perm is None or self._perm[0] != epoch:
            n = len(self.triplets.rows)
            self._perm = (epoch, epoch_permutation(n, self.seed + _ORDER_SALT, epoch))
        start = k * self.batch_size * self.world_size + self.rank * self.batch_size
        return self._perm[1][start : start + self.batch_size]

    def batch(self, number: int) -> torch.Tensor:
        """(3b, L) tokens ``[premises ; entailments ; contradictions]`` of batch ``number``."""
        rows = [self.triplets.rows[i] for i in self.indices(number)]
        return self.tokenizer([r[c] for c in range(3) for r in rows])


class WithTriplets(TrainLoader):
    """An image-text loader whose batches also carry ``nli_texts`` (see the module docstring)."""

    def __init__(self, loader: TrainLoader, stream: TripletStream) -> None:
        self.loader, self.stream = loader, stream
        self.batch_size, self.world_size = loader.batch_size, loader.world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.loader.set_epoch(epoch, start_batch)
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        first = self.epoch * len(self.loader) + self.start_batch
        for offset, batch in enumerate(self.loader):
            yield {**batch, "nli_texts": self.stream.batch(first + offset)}


def with_triplets(
    loader: TrainLoader,
    path: str | Path,
    tokenizer: Callable[[list[str]], torch.Tensor],
    *,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
) -> WithTriplets:
    """``loader`` with a batch of ``batch_size`` NLI triplets from ``path`` per batch."""
    triplets = read_triplets(path)
    stream = TripletStream(
        triplets, tokenizer, batch_size=batch_size, rank=rank, world_size=world_size, seed=seed
    )
    log.info(
        "sentence data %s: %d triplets (%d skipped), %d batches of %d per process per epoch",
        path,
        len(triplets.rows),
        triplets.n_skipped,
        stream.batches_per_epoch,
        batch_size,
    )
    return WithTriplets(loader, stream)
