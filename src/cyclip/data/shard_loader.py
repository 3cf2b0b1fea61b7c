"""Training batches streamed from webdataset shards.

The pipeline, per DataLoader worker: this epoch's shard order (the same on every rank) split by
rank, then by worker (``wds.split_by_worker``), or with ``resampled`` shards drawn with
replacement per worker (``wds.ResampledShards``); tar members grouped into samples
(``wds.tarfile_to_samples``, errors recorded by a :class:`~cyclip.data.shards.SkipCounter`); a
shuffle buffer; decoding and transforms; full batches. ``with_epoch`` fixes the number of batches
per worker and epoch; a worker whose shards run out starts another pass over them.

Randomness is a function of (seed, epoch, rank, worker, pass): running an epoch twice gives the
same batches. Resuming is by epoch: ``set_epoch(e, start_batch=k)`` restarts epoch ``e`` from its
beginning and yields the remaining ``len - k`` batches, so the step count is exact but the samples
of a resumed partial epoch are approximate (some seen twice, some not at all).
"""

from __future__ import annotations

import logging
import math
import random
import zlib
from collections.abc import Callable, Iterator
from multiprocessing import Value
from typing import Any

import numpy as np
import webdataset as wds
from torch.utils.data import DataLoader, get_worker_info

from cyclip.data import shards
from cyclip.data.collate import PairCollator, PairTransform
from cyclip.data.loader_base import TrainLoader, loader_kwargs
from cyclip.data.sampling import item_seed
from cyclip.data.timeouts import TRAIN_TIMEOUTS, LoaderTimeouts, TimedRead
from cyclip.types import SkippedItem

log = logging.getLogger(__name__)


class _Passes:
    """Counts a stage's passes over its shards within one run of an epoch (one ``iter(loader)``).

    Each stage owns one; ``start()`` is called when the stage starts a pass. The epoch and the run
    number live in shared memory because persistent workers outlive epochs.
    """

    def __init__(self, epoch: Any, run: Any) -> None:
        self.epoch, self.run = epoch, run
        self._run_seen = -1
        self.index = -1

    def start(self) -> tuple[int, int]:
        """(epoch, pass index) of the pass that starts now; the index restarts at 0 each run."""
        if self.run.value != self._run_seen:
            self._run_seen, self.index = self.run.value, 0
        else:
            self.index += 1
        return self.epoch.value, self.index


def _worker_id(rank: int) -> int:
    info = get_worker_info()
    return rank * 1000 + (info.id if info is not None else 0)


class _WorkerSeed:
    """``worker_seed`` for wds.ResampledShards, with the rank given rather than read from the env."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def __call__(self) -> int:
        return _worker_id(self.rank)


class _ShardSource:
    """First stage: the shard URLs of this pass for this rank (workers split them next)."""

    def __init__(
        self,
        urls: list[str],
        seed: int,
        passes: _Passes,
        rank: int,
        world_size: int,
        resampled: bool,
    ) -> None:
        self.urls, self.seed, self.passes = urls, seed, passes
        self.rank, self.world_size, self.resampled = rank, world_size, resampled

    def __call__(self) -> Iterator[dict]:
        epoch, index = self.passes.start()
        if self.resampled:
            # Every (rank, worker) draws its own shards, seeded by (seed, epoch, pass, rank, worker).
            sampler = wds.ResampledShards(
                self.urls,
                seed=item_seed(self.seed, epoch, index),
                worker_seed=_WorkerSeed(self.rank),
                deterministic=True,
            )
            return iter(sampler)
        order = np.random.default_rng([self.seed, epoch, index]).permutation(len(self.urls))
        # The same shard order on every rank, then rank r takes every world_size-th shard: this is
        # wds.split_by_node with the rank given, where wds reads it from torch.distributed or RANK.
        return ({"url": self.urls[i]} for i in order[self.rank :: self.world_size])


class _EpochShuffle:
    """Per-worker shuffle buffer, seeded by (seed, epoch, pass, rank, worker)."""

    def __init__(self, bufsize: int, seed: int, passes: _Passes, rank: int) -> None:
        self.bufsize, self.seed, self.passes, self.rank = bufsize, seed, passes, rank

    def __call__(self, samples: Iterator[dict]) -> Iterator[dict]:
        epoch, index = self.passes.start()
        rng = random.Random(item_seed(self.seed, epoch * 1009 + index, _worker_id(self.rank)))
        return wds.shuffle(self.bufsize, initial=max(1, self.bufsize // 2), rng=rng)(samples)


class _DecodeTransform:
    """Raw sample -> transformed item (or :class:`SkippedItem`), seeded by (seed, epoch, pass, key)."""

    def __init__(
        self,
        counter: shards.SkipCounter,
        keys: tuple,
        transform: PairTransform,
        seed: int,
        passes: _Passes,
    ) -> None:
        self.counter, self.keys, self.transform = counter, keys, transform
        self.seed, self.passes = seed, passes

    def __call__(self, samples: Iterator[dict]) -> Iterator[dict | SkippedItem]:
        epoch, index = self.passes.start()
        for item in shards.decode_pairs(samples, self.counter, *self.keys):
            if isinstance(item, SkippedItem):
                yield item
                continue
            key_hash = zlib.crc32(item["key"].encode("utf-8", "surrogateescape"))
            seed = item_seed(self.seed, epoch * 1009 + index, key_hash)
            yield self.transform.transform_or_skip(
                item["image"], item["caption"], item["key"], seed
            )


class _FullBatches:
    """Batches of exactly ``batch_size`` good items; skipped items ride along in the counts.

    What is left at the end of a pass (fewer good items than a batch, and their skips) is carried
    into the next pass of the same run, so a worker that wraps around loses no sample and no
    count. (wds.batched would let bad items take batch slots and drop each pass's remainder.)
    """

    def __init__(self, batch_size: int, collator: PairCollator, passes: _Passes) -> None:
        self.batch_size, self.collator, self.passes = batch_size, collator, passes
        self.carry: list[dict | SkippedItem] = []

    def __call__(self, items: Iterator[dict | SkippedItem]) -> Iterator[dict]:
        _, index = self.passes.start()
        pending = self.carry if index > 0 else []  # a new run (epoch) starts clean
        self.carry = []
        n_good = sum(not isinstance(x, SkippedItem) for x in pending)
        for item in items:
            pending.append(item)
            if not isinstance(item, SkippedItem):
                n_good += 1
                if n_good == self.batch_size:
                    yield self.collator(pending)
                    pending, n_good = [], 0
            self.carry = pending  # kept current: with_epoch may abandon this generator any time
        self.carry = pending


class ShardTrainLoader(TrainLoader):
    """Training batches streamed from webdataset shards."""

    def __init__(
        self,
        urls: list[str],
        transform: PairTransform,
        collator: PairCollator,
        *,
        num_samples: int,
        batch_size: int,
        img_key: str | None = None,
        caption_key: str | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        workers: int = 2,
        prefetch_factor: int = 2,
        shuffle_buffer: int = 2000,
        resampled: bool = False,
        timeouts: LoaderTimeouts = TRAIN_TIMEOUTS,
        name: str = "training data loader",
    ) -> None:
        self.batch_size = batch_size
        self.world_size = world_size
        self.timeouts, self.name, self.workers = timeouts, name, workers
        n_workers = max(1, workers)
        if not resampled and len(urls) < world_size * n_workers:
            raise ValueError(
                f"{len(urls)} shards cannot feed {world_size} processes x {n_workers} workers (each reads "
                "whole shards): use more shards, fewer --data.workers, or --data.resampled"
            )
        global_batch = batch_size * world_size
        if num_samples < global_batch:
            raise ValueError(
                f"{num_samples} samples per epoch is less than one global batch ({global_batch}); "
                "lower --data.batch-size or raise --data.train-num-samples"
            )
        per_worker = math.ceil(num_samples // global_batch / n_workers)
        self.num_batches = per_worker * n_workers
        self.start_batch = 0
        # Shared with the workers, which outlive epochs: the epoch, and a run counter that tells
        # them a new iter() began (so that running an epoch twice gives the same batches).
        self.epoch = Value("i", 0)
        self.run = Value("i", 0)
        img_keys, txt_key = shards.parse_keys(img_key, caption_key)
        counter = shards.SkipCounter()
        stages: list[Callable] = [
            _ShardSource(urls, seed, self._passes(), rank, world_size, resampled)
        ]
        if not resampled:
            stages.append(wds.split_by_worker)
        stages += [
            *shards.sample_stages(img_keys, txt_key, counter, TimedRead(timeouts)),
            _EpochShuffle(shuffle_buffer, seed, self._passes(), rank),
            _DecodeTransform(counter, (img_keys, txt_key), transform, seed, self._passes()),
            _FullBatches(batch_size, collator, self._passes()),
        ]
        pipeline = wds.DataPipeline(*stages).with_epoch(per_worker)
        self.loader = DataLoader(
            pipeline,
            batch_size=None,
            shuffle=False,
            **loader_kwargs(workers, prefetch_factor, timeouts),
        )

    def _passes(self) -> _Passes:
        return _Passes(self.epoch, self.run)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.num_batches:
            raise ValueError(f"start_batch {start_batch} outside 0..{self.num_batches}")
        self.epoch.value = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict]:
        with self.run.get_lock():
            self.run.value += 1
        remaining = self.num_batches - self.start_batch
        produced = 0
        for batch in self.timeouts.watch(iter(self.loader), self.name, self.workers):
            if produced >= remaining:
                break
            produced += 1
            yield batch
        if produced < remaining:
            # Only when some worker's shards gave no sample at all (unreadable files): the ranks'
            # step counts then differ, which a distributed run must not ignore.
            log.warning(
                "epoch %d ended after %d of %d batches: some workers' shards yielded nothing (unreadable?)",
                self.epoch.value,
                produced,
                remaining,
            )
