"""A fixed, pre-rendered training set: identical tensors for every method and seed.

Rendering and tokenising once (instead of in DataLoader workers for every run) takes the input
pipeline out of the comparison and out of the timing: on two shared CPU cores, worker processes
compete with the model for the same cores. Images go through the model's *eval* transform (a
deterministic resize), so no method gets different augmentation draws than another.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from cyclip.data.loader_base import TrainLoader
from cyclip.models import ModelBundle
from cyclip.world import load_pairs


def render_pairs(
    bundle: ModelBundle, n: int, task: str = "shapes/pretrain"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` pairs of a builtin pairs task as model inputs.

    Returns:
        ``images`` (n, 3, H, W) float and ``texts`` (n, L) long token ids.
    """
    dataset = load_pairs(task)
    if not 1 <= n <= len(dataset):
        raise ValueError(f"render_pairs: n must be in 1..{len(dataset)} for {task}, got {n}")
    images, captions = [], []
    for i in range(n):
        item = dataset[i]
        images.append(bundle.preprocess_val(item["image"]))
        captions.append(item["caption"])
    return torch.stack(images), bundle.tokenizer(captions)  # (n, 3, H, W), (n, L)


class TensorPairLoader(TrainLoader):
    """Shuffled batches of in-memory tensors; the order depends only on ``(seed, epoch)``.

    Honours the trainer's loader contract (``set_epoch(epoch, start_batch)``, ``len``, batch dicts
    with ``images`` and ``texts``); a trailing incomplete batch is dropped so every step sees N
    pairs.
    """

    def __init__(
        self, images: torch.Tensor, texts: torch.Tensor, *, batch_size: int, seed: int
    ) -> None:
        if images.shape[0] != texts.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {texts.shape[0]} captions")
        if not 1 <= batch_size <= images.shape[0]:
            raise ValueError(f"batch_size must be in 1..{images.shape[0]}, got {batch_size}")
        self.images, self.texts = images, texts
        self.batch_size, self.world_size, self.seed = batch_size, 1, seed
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return self.images.shape[0] // self.batch_size

    def __iter__(self) -> Iterator[dict]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.images.shape[0], generator=generator)
        for b in range(self.start_batch, len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield {"images": self.images[index], "texts": self.texts[index], "n_skipped": 0}
