"""Open an evaluation data source by its string, through :mod:`cyclip.data`.

Sources are what ``cyclip.data`` accepts: an ImageFolder root, a ``labels.csv`` folder, CIFAR
pickles, a COCO folder, a CSV, webdataset shards, or ``builtin:NAME[?size=N&image_size=PX]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclip.data.builtin import builtin_source as builtin_source  # re-exported for the suite
from cyclip.data.builtin import builtin_task_name, is_builtin
from cyclip.types import ClassificationInfo


@dataclass(frozen=True)
class Source:
    """An opened data source and how to name it."""

    source: str
    """As given by the user."""
    name: str
    """Short display name: the builtin task name or the folder / file name."""
    dataset: Any
    """Map-style or iterable dataset of the item dicts of :mod:`cyclip.types`."""
    fingerprint: str | None
    """Identity of the data for the feature cache (``None``: do not cache)."""
    info: ClassificationInfo | None = None
    """Class names / templates / superclasses (classification sources only)."""

    def describe(self) -> dict:
        """The ``dataset`` block of a result file (without ``n``)."""
        return {"source": self.source, "name": self.name, "fingerprint": self.fingerprint}


def display_name(source: str) -> str:
    """``builtin:shapes-v1/val?size=10`` -> ``shapes/val``; a path -> its last component."""
    if is_builtin(source):
        return builtin_task_name(source)
    path = Path(source)
    return path.name or path.resolve().name


def _fingerprint(source: str, **options: Any) -> str | None:
    from cyclip.data import fingerprint

    try:
        return fingerprint(source, **options)
    except (OSError, ValueError):
        return None  # an unfingerprintable source is still evaluated, just not cached


def open_classification_source(
    source: str,
    *,
    classnames: str | os.PathLike | None = None,
    templates: str | os.PathLike | None = None,
    superclasses: str | os.PathLike | None = None,
    split: str | None = None,
) -> Source:
    """A labelled image set with its :class:`ClassificationInfo`.

    Args:
        source: anything :func:`cyclip.data.open_classification` accepts.
        classnames, templates, superclasses: files overriding the source's own.
        split: ``"train"`` / ``"test"`` for sources holding both (CIFAR pickles); ignored by the
            others, whose folder or task name already names the split.
    """
    from cyclip.data import detect_type, open_classification

    options: dict[str, Any] = {
        "classnames": classnames,
        "templates": templates,
        "superclasses": superclasses,
    }
    if split is not None and detect_type(source) == "cifar":
        options["split"] = split
    options = {k: str(v) for k, v in options.items() if v is not None}
    dataset, info = open_classification(source, **options)
    return Source(source, display_name(source), dataset, _fingerprint(source, **options), info)


def open_retrieval_source(source: str) -> Source:
    """Images with all their captions (COCO, CSV, shards, ``builtin:shapes/retrieval``)."""
    from cyclip.data import open_retrieval

    return Source(source, display_name(source), open_retrieval(source), _fingerprint(source))


def open_pairs_source(source: str) -> Source:
    """Matched image-caption pairs for the geometry analyses.

    Builtin pair tasks (``builtin:shapes/val``) are used as they are. A source that can group
    captions by image (COCO, CSV, webdataset, builtin retrieval) contributes each image once,
    with its first caption: COCO as pairs would repeat every image once per caption, and the
    repeats would sit at distance 0 in the uniformity statistics.
    """
    from cyclip.data import detect_type, open_pairs, open_retrieval
    from cyclip.data.builtin import builtin_kind
    from cyclip.data.resolve import PROVIDES

    kind = detect_type(source)
    pairs_only = kind == "builtin" and builtin_kind(source) == "pairs"
    if pairs_only or "retrieval" not in PROVIDES.get(kind, ()):
        return Source(source, display_name(source), open_pairs(source), _fingerprint(source))
    fp = _fingerprint(source)
    dataset = FirstCaption(open_retrieval(source))
    return Source(source, display_name(source), dataset, fp and f"{fp}#first-caption")


class FirstCaption:
    """View of a retrieval dataset as pairs: ``{"image", "caption": captions[0]}``."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        return {"image": item["image"], "caption": item["captions"][0]}

    def item_key(self, index: int) -> str:
        """Name of item ``index`` in skip reports: the wrapped dataset's, when it has one."""
        namer = getattr(self.dataset, "item_key", None)
        return namer(index) if namer is not None else f"{type(self.dataset).__name__}[{index}]"
