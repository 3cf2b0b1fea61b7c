"""Record types shared by every data source (CSV, webdataset, COCO, ImageFolder, builtin world).

They sit at the bottom of the package (no cyclip imports), so that :mod:`cyclip.world` and
:mod:`cyclip.data` both use them and ``data`` is the only one of the two importing the other.

Items are dicts with explicit keys:

- pair datasets yield ``{"image": PIL.Image.Image (RGB), "caption": str}``;
- retrieval datasets yield ``{"image": PIL.Image.Image, "captions": list[str]}``;
- classification datasets yield ``{"image": PIL.Image.Image, "label": int}`` and come with a
  :class:`ClassificationInfo`.

Bad items (unreadable or missing image, empty caption, malformed row) are never fatal: map-style
datasets raise :class:`BadSampleError` from ``__getitem__`` and iterable datasets yield a
:class:`SkippedItem` in their place; the loaders drop them from the batch and count them.
"""

from __future__ import annotations

from dataclasses import dataclass

BUILTIN_PREFIX = "builtin:"
"""Prefix of the builtin world's sources (``builtin:shapes/val``); the grammar of such a source
string lives in :mod:`cyclip.data.builtin`, the task names in :mod:`cyclip.world.tasks`."""


@dataclass(frozen=True)
class ClassificationInfo:
    """What zero-shot evaluation needs to know about a labelled image set."""

    classnames: tuple[str, ...]
    """Human-readable class names, index = label."""
    templates: tuple[str, ...]
    """Prompt templates, each a format string with a ``{c}`` placeholder for the class name."""
    superclasses: tuple[str, ...] | None = None
    """Superclass name of each class (parallel to ``classnames``), for fine vs coarse analysis."""

    def __post_init__(self) -> None:
        if not self.classnames:
            raise ValueError("ClassificationInfo needs at least one class name")
        for t in self.templates:
            if "{c}" not in t:
                raise ValueError(f"prompt template {t!r} has no '{{c}}' placeholder")
        if self.superclasses is not None and len(self.superclasses) != len(self.classnames):
            raise ValueError(
                f"superclasses has {len(self.superclasses)} entries for {len(self.classnames)} classes"
            )


class BadSampleError(Exception):
    """An item that cannot be used (unreadable image, empty caption, malformed row, ...).

    Map-style datasets raise it from ``__getitem__``; the loaders catch it, drop the item from its
    batch and count it, so one bad file never stops a run.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        """Where the item came from: a file path, ``shard.tar:KEY`` or ``file.csv:LINE``."""
        self.reason = reason
        """Why it was rejected, in words."""

    def __reduce__(self):  # default pickling passes only the message; workers must send both fields
        return (type(self), (self.key, self.reason))


@dataclass(frozen=True)
class SkippedItem:
    """What an *iterable* dataset yields in place of a bad item, so that it can still be counted.

    (Raising would end the iteration; map-style datasets raise :class:`BadSampleError` instead.)
    """

    key: str
    reason: str

    def describe(self) -> str:
        return f"{self.key}: {self.reason}"
