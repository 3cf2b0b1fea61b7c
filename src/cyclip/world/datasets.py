"""Map-style datasets of the builtin world, rendered lazily item by item.

A dataset object holds only its task spec and two integers, so it pickles in microseconds and
each DataLoader worker renders its own items. Item ``i`` depends only on (world version, task
stream, ``i``): the same pixels and captions in any order, process or dataset instance, and a
smaller ``size`` is a prefix of a larger one.
"""

from __future__ import annotations

import operator
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from cyclip.types import ClassificationInfo
from cyclip.world.captions import describe, distinct_captions
from cyclip.world.classes import Factor, classification_info, label_of
from cyclip.world.compositional import (
    CATEGORIES,
    CompositionalItem,
    render_caption,
    sample_item,
)
from cyclip.world.render import render
from cyclip.world.rng import ItemRng, derive_seed
from cyclip.world.scene import Scene, sample_captioned_scene, sample_single_object_scene
from cyclip.world.sts import STSPair, make_pair
from cyclip.world.tasks import CAPTIONS_PER_IMAGE, Split, TaskSpec, fingerprint
from cyclip.world.vocabulary import HELD_OUT_PAIRS, WORLD_VERSION, seen_pairs

MIN_IMAGE_SIZE = 8


class WorldDataset(Dataset):
    """Common part of the world's datasets: size, image size, per-item random streams."""

    def __init__(self, task: TaskSpec, size: int | None = None, image_size: int = 64) -> None:
        size = task.size if size is None else size
        if size < 1:
            raise ValueError(f"{task.name}: size must be a positive number of items, got {size}")
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(
                f"{task.name}: image_size must be at least {MIN_IMAGE_SIZE} pixels, got {image_size}"
            )
        self.task = task
        self.size = size
        self.image_size = image_size

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.task.name!r}, size={self.size}, image_size={self.image_size})"

    @property
    def metadata(self) -> dict[str, Any]:
        """Plain-data description: world version, task, kind, size, image size, fingerprint."""
        return {
            "world_version": WORLD_VERSION,
            "task": self.task.name,
            "kind": self.task.kind,
            "size": self.size,
            "image_size": self.image_size,
            "fingerprint": fingerprint(self.task.name, self.size, self.image_size),
        }

    def _item_rng(self, index: int) -> tuple[int, ItemRng]:
        """The non-negative index and the random stream of item ``index``."""
        index = operator.index(index)  # numpy / torch integer scalars hash like ints below
        # IndexError past the end keeps Python's sequence-iteration protocol working.
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.task.name} of size {self.size}")
        index = index % self.size
        return index, ItemRng(derive_seed(WORLD_VERSION, self.task.stream, index))

    def render_scene(self, scene: Scene) -> Image.Image:
        """Draw a scene at this dataset's image size."""
        return render(scene, self.image_size)


class WorldPairs(WorldDataset):
    """Image-caption pairs: items ``{"image": PIL RGB, "caption": str}``."""

    def describe_item(self, index: int) -> tuple[Scene, str]:
        """The scene and caption of item ``index`` without rendering the image."""
        _, rng = self._item_rng(index)
        scene = sample_captioned_scene(rng, seen_pairs())
        return scene, describe(scene, rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        scene, caption = self.describe_item(index)
        return {"image": self.render_scene(scene), "caption": caption}


class WorldRetrieval(WorldDataset):
    """Images with several distinct captions: items ``{"image", "captions": list[str]}``."""

    def describe_item(self, index: int) -> tuple[Scene, list[str]]:
        """The scene and captions of item ``index`` without rendering the image."""
        _, rng = self._item_rng(index)
        scene = sample_captioned_scene(rng, seen_pairs())
        return scene, distinct_captions(scene, rng, CAPTIONS_PER_IMAGE)

    def __getitem__(self, index: int) -> dict[str, Any]:
        scene, captions = self.describe_item(index)
        return {"image": self.render_scene(scene), "captions": captions}


class WorldClassification(WorldDataset):
    """Single-object images with a class label: items ``{"image", "label": int}``.

    Item ``i`` shows colour-shape pair ``i mod P`` of the split's P pairs (the 56 seen pairs, or
    the 8 held-out pairs for ``novel``), so every split is class-balanced up to one item.
    """

    def __init__(self, task: TaskSpec, size: int | None = None, image_size: int = 64) -> None:
        if task.factor is None or task.split is None:
            raise ValueError(f"{task.name} is not a classification task")
        super().__init__(task, size, image_size)
        self.factor: Factor = task.factor
        self.split: Split = task.split
        self.info: ClassificationInfo = classification_info(task.factor)

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The (colour, shape) pairs this split cycles through."""
        return HELD_OUT_PAIRS if self.split == "novel" else seen_pairs()

    def describe_item(self, index: int) -> tuple[Scene, int]:
        """The scene and label of item ``index`` without rendering the image."""
        index, rng = self._item_rng(index)
        pairs = self.pairs()
        colour, shape = pairs[index % len(pairs)]
        scene = sample_single_object_scene(
            rng,
            colour,
            shape,
            style="outline" if self.split == "sketch" else "filled",
            texture="noisy" if self.split == "noisy" else "plain",
        )
        return scene, label_of(self.factor, colour, shape)

    def __getitem__(self, index: int) -> dict[str, Any]:
        scene, label = self.describe_item(index)
        return {"image": self.render_scene(scene), "label": label}


class WorldCompositional(WorldDataset):
    """Compositional items: ``{"image", "positive": str, "negatives": [str], "category": str}``.

    Item ``i`` is of category ``CATEGORIES[i % 5]`` (see :mod:`cyclip.world.compositional`):
    a scene of two or more objects, a caption true of it and one hard negative.
    """

    def describe_item(self, index: int) -> CompositionalItem:
        """The scene and caption specs of item ``index`` without rendering the image."""
        index, rng = self._item_rng(index)
        return sample_item(rng, CATEGORIES[index % len(CATEGORIES)])

    def texts(self, index: int) -> dict[str, Any]:
        """The item without its image: ``{"positive", "negatives", "category"}``."""
        item = self.describe_item(index)
        return {
            "positive": render_caption(item.positive),
            "negatives": [render_caption(item.negative)],
            "category": item.category,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.describe_item(index)
        return {
            "image": self.render_scene(item.scene),
            "positive": render_caption(item.positive),
            "negatives": [render_caption(item.negative)],
            "category": item.category,
        }


class WorldSTS(WorldDataset):
    """Caption pairs with a graded gold similarity (:mod:`cyclip.world.sts`): items
    ``{"sentence1": str, "sentence2": str, "score": float in [0, 5], "kind": str}``. Text only:
    ``image_size`` is accepted for a uniform interface and ignored."""

    def describe_item(self, index: int) -> STSPair:
        """The scenes, captions and gold of pair ``index``."""
        _, rng = self._item_rng(index)
        return make_pair(rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.describe_item(index)
        return {
            "sentence1": pair.sentence1,
            "sentence2": pair.sentence2,
            "score": pair.score,
            "kind": pair.kind,
        }
