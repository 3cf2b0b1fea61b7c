"""Worker-side work: per-item transforms and collation into batch dicts with skip accounting.

Everything here runs in DataLoader workers: image decoding happened in the dataset, then the
model's preprocess (and, for the in-modal variant, the augmentations) and the tokenizer run here.
Bad items arrive as :class:`SkippedItem`; they are dropped from the batch and counted.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from cyclip.data.augment import CaptionAugmenter
from cyclip.data.sampling import item_seed
from cyclip.data.timeouts import TRAIN_TIMEOUTS, LoaderTimeouts, TimedRead
from cyclip.types import BadSampleError, SkippedItem

MAX_SKIPPED_EXAMPLES = 4
"""How many ``"key: reason"`` strings a batch carries in ``skipped_examples``."""


def item_key(dataset: Any, index: int) -> str:
    """A readable name of item ``index`` (its file path when the dataset knows it)."""
    namer = getattr(dataset, "item_key", None)
    return namer(index) if namer is not None else f"{type(dataset).__name__}[{index}]"


@dataclass(frozen=True)
class PairTransform:
    """Image-caption item -> tensors (and augmented views), seeded per item."""

    preprocess: Callable[[Image.Image], torch.Tensor]
    """The model's image transform: PIL -> (3, H, W)."""
    image_augment: Callable[[Image.Image], Image.Image] | None = None
    """In-modal variant: PIL -> PIL policy applied before ``preprocess``."""
    caption_augment: CaptionAugmenter | None = None
    """In-modal variant: EDA."""

    def __call__(self, image: Image.Image, caption: str, key: str, seed: int) -> dict:
        out: dict[str, object] = {"key": key, "caption": caption}
        # Random crops and AutoAugment draw from torch's global CPU generator: seed it per item so
        # each augmentation depends only on (seed, epoch, item), whatever worker runs it, and
        # restore it after. (torch.random.fork_rng + torch.manual_seed does the same at ~100x the
        # cost, 0.25 ms per item, because manual_seed also visits every device's generators.)
        state = torch.get_rng_state()
        torch.default_generator.manual_seed(seed)
        try:
            out["image"] = self.preprocess(image)
            if self.image_augment is not None:
                out["image_aug"] = self.preprocess(self.image_augment(image))
        finally:
            torch.set_rng_state(state)
        if self.caption_augment is not None:
            out["caption_aug"] = self.caption_augment(caption, random.Random(seed))
        return out

    def transform_or_skip(
        self, image: Image.Image, caption: str, key: str, seed: int
    ) -> dict | SkippedItem:
        try:
            return self(image, caption, key, seed)
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            # A decodable image the transform still cannot handle (degenerate size, odd mode).
            return SkippedItem(key, f"preprocessing failed: {type(exc).__name__}: {exc}")


class PairCollator:
    """List of transformed items / :class:`SkippedItem` -> training batch dict.

    Batch keys: ``images`` (B, 3, H, W) float, ``texts`` (B, L) long, with augmentation also
    ``images_aug`` and ``texts_aug``; ``n_skipped`` (int) and ``skipped_examples`` (list of
    ``"key: reason"``, at most :data:`MAX_SKIPPED_EXAMPLES`). B may be below the batch size, and is
    0 (with the right trailing shapes) if every item was bad.
    """

    def __init__(
        self, tokenizer: Callable[[list[str]], torch.Tensor], transform: PairTransform
    ) -> None:
        self.tokenizer = tokenizer
        self.transform = transform

    def __call__(self, items: Sequence[dict | SkippedItem]) -> dict:
        good = [x for x in items if not isinstance(x, SkippedItem)]
        batch = {
            "images": self._stack([x["image"] for x in good]),
            "texts": self._tokenize([x["caption"] for x in good]),
        }
        if self.transform.image_augment is not None:
            batch["images_aug"] = self._stack([x["image_aug"] for x in good])
        if self.transform.caption_augment is not None:
            batch["texts_aug"] = self._tokenize([x["caption_aug"] for x in good])
        batch.update(skip_stats(items))
        return batch

    def _stack(self, images: list[torch.Tensor]) -> torch.Tensor:
        if images:
            return torch.stack(images)  # (B, 3, H, W)
        shape = self.transform.preprocess(Image.new("RGB", (64, 64))).shape
        return torch.empty((0, *shape))

    def _tokenize(self, captions: list[str]) -> torch.Tensor:
        if not captions:
            return self.tokenizer([""])[:0]
        limit = getattr(self.tokenizer, "context_length", None)
        if limit:
            # open_clip's tokenizer BPE-encodes the whole text before truncating (~10 ms for 10,000
            # characters). Every word yields at least one token, so the first `limit` words already
            # fill the context: clipping to them gives the same tokens, end-of-text included.
            captions = [_first_words(c, limit) for c in captions]
        return self.tokenizer(captions)  # (B, L)


def _first_words(text: str, n: int) -> str:
    words = text.split(maxsplit=n)
    return " ".join(words[:n]) if len(words) > n else text


def skip_stats(items: Sequence[Any]) -> dict:
    """Counts of the skipped items in a batch's raw items (``n_skipped`` and reasons)."""
    skipped = [x for x in items if isinstance(x, SkippedItem)]
    return {
        "n_skipped": len(skipped),
        "skipped_examples": [s.describe() for s in skipped[:MAX_SKIPPED_EXAMPLES]],
    }


class TrainItems(Dataset):
    """Map-style wrapper run in the workers: ``(epoch, index)`` -> transformed item or skip.

    Reading an item (``dataset[index]``) is limited to ``timeouts.read`` seconds."""

    def __init__(
        self,
        dataset: Dataset,
        transform: PairTransform,
        seed: int,
        timeouts: LoaderTimeouts = TRAIN_TIMEOUTS,
    ) -> None:
        self.dataset = dataset
        self.transform = transform
        self.seed = seed
        self.read = TimedRead(timeouts)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, request: tuple[int, int]) -> dict | SkippedItem:
        epoch, index = request
        key = item_key(self.dataset, index)
        try:
            item: dict = self.read(key, operator.getitem, self.dataset, index)
        except BadSampleError as exc:
            return SkippedItem(exc.key, exc.reason)
        return self.transform.transform_or_skip(
            item["image"], item["caption"], key, item_seed(self.seed, epoch, index)
        )
