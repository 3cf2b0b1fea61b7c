"""Conventions shared by every data source (CSV, webdataset, COCO, ImageFolder, builtin world).

Items are dicts with explicit keys:

- pair datasets yield ``{"image": PIL.Image.Image (RGB), "caption": str}``;
- retrieval datasets yield ``{"image": PIL.Image.Image, "captions": list[str]}``;
- classification datasets yield ``{"image": PIL.Image.Image, "label": int}`` and come with a
  :class:`ClassificationInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass


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
