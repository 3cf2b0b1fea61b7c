"""``build_eval_loader``: ordered batches of any dataset for feature extraction.

Batch keys by item kind:

- classification: ``images`` (B, 3, H, W), ``labels`` (B,) long;
- retrieval: ``images``, ``captions`` (list of B lists of str);
- pairs: ``images``, ``captions`` (list of B str), and ``texts`` (B, L) when a tokenizer is given;

plus ``n_skipped``/``skipped_examples`` as in training, and for map-style datasets ``indices``
(B,) long: the dataset index of each kept item, so results can be joined back to the data when
bad items were dropped. Map-style datasets keep their order. Streamed (webdataset) pairs come in
shard order, interleaved between workers round-robin by batch: deterministic for a given number
of workers. A read that does not return, or a stuck worker, ends the iteration with one line
(:mod:`cyclip.data.timeouts`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset

from cyclip.data.batch_normalize import BatchNormalize, split_eval_transform, stack_items
from cyclip.data.collate import item_key, skip_stats
from cyclip.data.timeouts import EVAL_TIMEOUTS, LoaderTimeouts, TimedRead
from cyclip.types import BadSampleError, SkippedItem


def _prepare(item: dict, preprocess: Callable, key: str, index: int | None) -> dict | SkippedItem:
    try:
        out = {k: v for k, v in item.items() if k != "image"}
        out["image"] = preprocess(item["image"])
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        return SkippedItem(key, f"preprocessing failed: {type(exc).__name__}: {exc}")
    if index is not None:
        out["index"] = index
    return out


class _EvalItems(Dataset):
    def __init__(self, dataset: Dataset, preprocess: Callable, timeouts: LoaderTimeouts) -> None:
        self.dataset = dataset
        self.preprocess = preprocess
        self.read = TimedRead(timeouts)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict | SkippedItem:
        key = item_key(self.dataset, index)
        try:
            item: dict = self.read(key, operator.getitem, self.dataset, index)
        except BadSampleError as exc:
            return SkippedItem(exc.key, exc.reason)
        return _prepare(item, self.preprocess, key, index)


class _EvalStream(IterableDataset):
    def __init__(self, dataset: IterableDataset, preprocess: Callable) -> None:
        super().__init__()
        self.dataset = dataset
        self.preprocess = preprocess

    def __iter__(self) -> Iterator[dict | SkippedItem]:
        for n, item in enumerate(self.dataset):
            yield (
                item
                if isinstance(item, SkippedItem)
                else _prepare(item, self.preprocess, f"item {n}", None)
            )


class EvalCollator:
    """Items of one kind (told apart by their keys) -> an evaluation batch dict."""

    def __init__(
        self,
        preprocess: Callable,
        tokenizer: Callable | None,
        finish: BatchNormalize | None = None,
    ) -> None:
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.finish = finish

    def _collate(self, good: list[dict]) -> dict[str, Any]:
        images = stack_items([x["image"] for x in good], self.finish)  # (B, 3, H, W)
        batch: dict[str, Any] = {"images": images}
        if "index" in good[0]:
            batch["indices"] = torch.tensor([x["index"] for x in good], dtype=torch.long)
        if "label" in good[0]:
            batch["labels"] = torch.tensor([x["label"] for x in good], dtype=torch.long)
        elif "captions" in good[0]:
            batch["captions"] = [list(x["captions"]) for x in good]
        else:
            batch["captions"] = [x["caption"] for x in good]
            if self.tokenizer is not None:
                batch["texts"] = self.tokenizer(batch["captions"])  # (B, L)
        return batch

    def _empty(self) -> dict[str, Any]:
        """Every item of the batch was bad: all keys any kind could have, empty."""
        probe = self.preprocess(Image.new("RGB", (64, 64)))
        batch: dict[str, Any] = {
            "images": torch.empty((0, *probe.shape), dtype=probe.dtype),
            "indices": torch.empty(0, dtype=torch.long),
            "labels": torch.empty(0, dtype=torch.long),
            "captions": [],
        }
        if self.tokenizer is not None:
            batch["texts"] = self.tokenizer([""])[:0]
        return batch

    def __call__(self, items: Sequence[dict | SkippedItem]) -> dict:
        good = [x for x in items if not isinstance(x, SkippedItem)]
        batch = self._collate(good) if good else self._empty()
        batch.update(skip_stats(items))
        return batch


class EvalLoader(DataLoader):
    """A ``DataLoader`` whose batches get their images finished (uint8 -> normalised float, see
    :mod:`cyclip.data.batch_normalize`) in the process that iterates it, and whose wait for the
    workers ends in one line naming it."""

    def __init__(
        self,
        *args: Any,
        timeouts: LoaderTimeouts,
        name: str,
        finish: BatchNormalize | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.timeouts, self.name, self.finish = timeouts, name, finish

    def __iter__(self) -> Iterator[dict]:  # type: ignore[override]
        for batch in self.timeouts.watch(super().__iter__(), self.name, self.num_workers):
            if self.finish is not None and batch["images"].dtype == torch.uint8:
                batch["images"] = self.finish(batch["images"])
            yield batch


def build_eval_loader(
    dataset: Dataset | IterableDataset,
    preprocess: Callable,
    *,
    batch_size: int = 256,
    workers: int = 2,
    tokenizer: Callable | None = None,
    timeouts: LoaderTimeouts = EVAL_TIMEOUTS,
    name: str = "evaluation data loader",
) -> EvalLoader:
    """Batches of ``dataset`` for evaluation (see the module docstring for the keys).

    Args:
        dataset: a pairs, retrieval or classification dataset from :mod:`cyclip.data`.
        preprocess: the model's evaluation transform, PIL -> (3, H, W).
        batch_size: items per batch (before bad ones are dropped).
        workers: DataLoader worker processes.
        tokenizer: list[str] -> (B, L); pairs batches then carry ``texts``.
        timeouts: how long one item's read, and a batch from the workers, may take (see
            :mod:`cyclip.data.timeouts`; iterating raises its errors).
        name: how the worker time-out names this loader.
    """
    if batch_size < 1 or workers < 0:
        raise ValueError(
            f"batch_size must be >= 1 and workers >= 0, got {batch_size} and {workers}"
        )
    # Items travel as uint8 and are normalised per batch by the iterating process: the same
    # values as ``preprocess`` per image, a quarter of the bytes from the workers.
    item_transform, finish = split_eval_transform(preprocess)
    wrapped: Dataset | IterableDataset
    if isinstance(dataset, IterableDataset):
        limit = getattr(dataset, "with_timeouts", None)  # a stream that reads as it is iterated
        wrapped = _EvalStream(limit(timeouts) if limit else dataset, item_transform)
    else:
        wrapped = _EvalItems(dataset, item_transform, timeouts)
    return EvalLoader(
        wrapped,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=EvalCollator(item_transform, tokenizer, finish),
        pin_memory=torch.cuda.is_available(),
        timeout=timeouts.dataloader_timeout(workers),
        timeouts=timeouts,
        name=name,
        finish=finish,
    )
