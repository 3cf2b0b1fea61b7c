"""The training input pipeline: ``build_train_loader(cfg, preprocess, tokenizer, ...)``.

Map-style sources (CSV, COCO, builtin) follow :mod:`cyclip.data.sampling`: an epoch order seeded
by (seed, epoch), split so that distributed training equals single-process training on the
concatenated batch, and an exact mid-epoch resume (``set_epoch(e, start_batch=k)`` skips k batches
without loading them). webdataset shards stream through :mod:`cyclip.data.shard_loader`.

Bad items are dropped and counted (``n_skipped``, ``skipped_examples``). Map-style batches keep
their slots, so they may be slightly smaller than ``batch_size`` (even empty); every loss in cyclip
handles any N. Streamed batches are refilled from the stream and always hold ``batch_size`` items.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset

from cyclip.data import shards
from cyclip.data.augment import CaptionAugmenter, image_policy
from cyclip.data.collate import PairCollator, PairTransform, TrainItems
from cyclip.data.config import DataConfig
from cyclip.data.loader_base import TrainLoader, loader_kwargs
from cyclip.data.resolve import open_pairs, resolve_type
from cyclip.data.sampling import EpochBatchSampler
from cyclip.data.shard_index import count_shard_samples
from cyclip.data.shard_loader import ShardTrainLoader
from cyclip.data.timeouts import TRAIN_TIMEOUTS, LoaderTimeouts

log = logging.getLogger(__name__)

__all__ = ["MapTrainLoader", "ShardTrainLoader", "TrainLoader", "build_train_loader"]


class MapTrainLoader(TrainLoader):
    """Training batches from a map-style pair dataset, in the distributed-invariant order."""

    def __init__(
        self,
        dataset: Dataset,
        transform: PairTransform,
        collator: PairCollator,
        *,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        workers: int = 2,
        prefetch_factor: int = 2,
        samples_per_epoch: int | None = None,
        timeouts: LoaderTimeouts = TRAIN_TIMEOUTS,
        name: str = "training data loader",
    ) -> None:
        self.batch_size = batch_size
        self.world_size = world_size
        self.dataset = dataset
        self.sampler = EpochBatchSampler(
            len(dataset),  # type: ignore[arg-type]
            batch_size,
            rank=rank,
            world_size=world_size,
            seed=seed,
            samples_per_epoch=samples_per_epoch,
        )
        # Built once: persistent workers survive epochs, and the main-process sampler is re-read
        # at each iter(), so set_epoch takes effect without restarting them.
        self.loader = DataLoader(
            TrainItems(dataset, transform, seed, timeouts),
            batch_sampler=self.sampler,
            collate_fn=collator,
            **loader_kwargs(workers, prefetch_factor, timeouts),
        )
        self.timeouts, self.name, self.workers = timeouts, name, workers

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.sampler.set_epoch(epoch, start_batch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[dict]:
        # iter() here, not on the first batch: the trainer creates it under a seeded generator
        return self.timeouts.watch(iter(self.loader), self.name, self.workers)


def build_train_loader(
    cfg: DataConfig,
    preprocess: Callable,
    tokenizer: Callable,
    *,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
) -> TrainLoader:
    """The training loader of ``cfg.train_data`` for process ``rank`` of ``world_size``.

    Args:
        cfg: the data configuration.
        preprocess: the model's training image transform, PIL -> (3, H, W).
        tokenizer: list[str] -> LongTensor (B, L).
        rank, world_size: this process and the number of processes.
        seed: seeds the epoch orders and per-item augmentations.

    Returns:
        A :class:`TrainLoader`; batches are dicts ``images`` (B, 3, H, W), ``texts`` (B, L),
        ``images_aug``/``texts_aug`` with ``inmodal_augment``, ``n_skipped``, ``skipped_examples``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1} for world_size {world_size}")
    kind = resolve_type(cfg.train_data, cfg.dataset_type, "pairs")
    transform = PairTransform(
        preprocess,
        image_policy() if cfg.inmodal_augment else None,
        CaptionAugmenter.with_local_lexicon(cfg.eda_rate) if cfg.inmodal_augment else None,
    )
    collator = PairCollator(tokenizer, transform)
    common: dict[str, Any] = dict(
        batch_size=cfg.batch_size,
        rank=rank,
        world_size=world_size,
        seed=seed,
        workers=cfg.workers,
        prefetch_factor=cfg.prefetch_factor,
        timeouts=cfg.timeouts,
        name=f"training data loader of {cfg.train_data}",
    )
    if kind == "webdataset":
        urls = shards.expand_shards(cfg.train_data)
        img_keys, txt_key = shards.parse_keys(cfg.csv_img_key, cfg.csv_caption_key)
        shards.check_shard_keys(urls, img_keys, txt_key)
        num_samples = cfg.train_num_samples or count_shard_samples(urls)
        loader: TrainLoader = ShardTrainLoader(
            urls,
            transform,
            collator,
            num_samples=num_samples,
            img_key=cfg.csv_img_key,
            caption_key=cfg.csv_caption_key,
            shuffle_buffer=cfg.shuffle_buffer,
            resampled=cfg.resampled,
            **common,
        )
    else:
        if cfg.resampled:
            raise ValueError(
                f"resampled applies to webdataset shards only; {cfg.train_data} is a {kind} source"
            )
        dataset = open_pairs(
            cfg.train_data,
            img_key=cfg.csv_img_key,
            caption_key=cfg.csv_caption_key,
            separator=cfg.csv_separator,
            dataset_type=kind,  # type: ignore[arg-type]
        )
        loader = MapTrainLoader(
            dataset, transform, collator, samples_per_epoch=cfg.train_num_samples, **common
        )
    log.info(
        "train data %s (%s): %d batches of %d per process per epoch, %d processes",
        cfg.train_data,
        kind,
        len(loader),
        cfg.batch_size,
        world_size,
    )
    return loader
