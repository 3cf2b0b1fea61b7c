"""The builtin synthetic captioned world: CyCLIP experiments with no data download.

Scenes of 1-3 coloured shapes on a grey background, rendered procedurally and described by a
caption grammar, plus a miniature of the paper's evaluation suite (retrieval, zero-shot
classification over three label factors, and sketch / noisy / novel-combination shifts), a
compositional benchmark (true caption vs a hard negative: binding, relation, count, replacement)
and caption pairs with graded similarity for the text encoder. Every
item is reproducible from its task name and index.

>>> from cyclip import world
>>> world.list_tasks()[:3]
['shapes/pretrain', 'shapes/val', 'shapes/retrieval']
>>> item = world.load_pairs("shapes/pretrain", size=10)[0]   # {"image": PIL, "caption": str}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cyclip.types import ClassificationInfo
from cyclip.world.tasks import TASKS, TaskKind, TaskSpec, fingerprint, resolve
from cyclip.world.vocabulary import HELD_OUT_PAIRS, WORLD_VERSION

if TYPE_CHECKING:  # the datasets (torch Dataset subclasses) load on first use: fast `cyclip data`
    from cyclip.world.datasets import (
        WorldClassification,
        WorldCompositional,
        WorldPairs,
        WorldRetrieval,
        WorldSTS,
    )

_DATASETS = (
    "WorldClassification",
    "WorldCompositional",
    "WorldDataset",
    "WorldPairs",
    "WorldRetrieval",
    "WorldSTS",
)


def __getattr__(name: str) -> Any:
    if name in _DATASETS:
        from cyclip.world import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'cyclip.world' has no attribute {name!r}")


def list_tasks() -> list[str]:
    """Canonical task names (without the ``builtin:`` prefix), pairs first."""
    return list(TASKS)


def task_kind(name: str) -> TaskKind:
    """``"pairs"``, ``"retrieval"``, ``"classification"``, ``"compositional"`` or ``"sts"``;
    ValueError for an unknown name."""
    return resolve(name).kind


def load_pairs(name: str, size: int | None = None, image_size: int = 64) -> WorldPairs:
    """An image-caption pair dataset (``shapes/pretrain``, ``shapes/val``).

    Args:
        name: task name, with or without ``builtin:``.
        size: number of pairs; default the task's size (100,000 for pretrain, 2,000 for val).
            A smaller size is a prefix of a larger one.
        image_size: side of the square images in pixels.

    Returns:
        A map-style dataset of ``{"image": PIL.Image (RGB), "caption": str}``.
    """
    from cyclip.world.datasets import WorldPairs

    return WorldPairs(resolve(name, "pairs"), size, image_size)


def load_retrieval(name: str, image_size: int = 64, size: int | None = None) -> WorldRetrieval:
    """A retrieval dataset (``shapes/retrieval``): ``{"image", "captions": list[str]}`` items,
    five distinct captions per image; ``size`` overrides the number of images (default 1,000)."""
    from cyclip.world.datasets import WorldRetrieval

    return WorldRetrieval(resolve(name, "retrieval"), size, image_size)


def load_classification(
    name: str, image_size: int = 64, size: int | None = None
) -> tuple[WorldClassification, ClassificationInfo]:
    """A labelled single-object image set and its class names / templates / superclasses.

    Names are ``shapes/{shape,colour,colour-shape}/{train,test,sketch,noisy,novel}``; the three
    factors label the same images of a split. ``size`` overrides the number of images.

    Returns:
        (dataset of ``{"image": PIL.Image, "label": int}``, :class:`ClassificationInfo`).
    """
    from cyclip.world.datasets import WorldClassification

    dataset = WorldClassification(resolve(name, "classification"), size, image_size)
    return dataset, dataset.info


def load_compositional(
    name: str = "shapes/compositional", image_size: int = 64, size: int | None = None
) -> WorldCompositional:
    """The compositional benchmark (``shapes/compositional``): items ``{"image", "positive",
    "negatives": [one hard negative], "category"}``, 200 per category by default (swap_att,
    swap_rel, count, replace_att, replace_obj; see :mod:`cyclip.world.compositional`)."""
    from cyclip.world.datasets import WorldCompositional

    return WorldCompositional(resolve(name, "compositional"), size, image_size)


def load_sts(name: str, size: int | None = None) -> WorldSTS:
    """Caption pairs with a graded gold similarity (``shapes/sts``, 1,000 pairs by default):
    ``{"sentence1", "sentence2", "score" in [0, 5], "kind"}`` items; the rule is in
    :mod:`cyclip.world.sts`."""
    from cyclip.world.datasets import WorldSTS

    return WorldSTS(resolve(name, "sts"), size)


__all__ = [
    "HELD_OUT_PAIRS",
    "WORLD_VERSION",
    "TaskKind",
    "TaskSpec",
    "WorldClassification",
    "WorldCompositional",
    "WorldDataset",
    "WorldPairs",
    "WorldRetrieval",
    "WorldSTS",
    "fingerprint",
    "list_tasks",
    "load_classification",
    "load_compositional",
    "load_pairs",
    "load_retrieval",
    "load_sts",
    "task_kind",
]
