"""Class names, prompt templates and labels of the world's classification tasks.

Three label *factors* name the same single-object images: ``shape`` (8 classes), ``colour``
(8 classes) and ``colour-shape`` (64 classes "red circle", ..., superclass = the shape).

Templates are phrasings the caption grammar itself produces, so a text encoder trained on the
world's captions has seen them. Templates that put an indefinite article before ``{c}`` are used
only where every class name takes "a" (the shapes): "a orange circle" is not a sentence the
encoder has met, so colour templates say "one {c} shape" instead.
"""

from __future__ import annotations

from typing import Literal

from cyclip.types import ClassificationInfo
from cyclip.world.vocabulary import COLOURS, SHAPES

Factor = Literal["shape", "colour", "colour-shape"]
FACTORS: tuple[Factor, ...] = ("shape", "colour", "colour-shape")

TEMPLATES: dict[Factor, tuple[str, ...]] = {
    "shape": (
        "a {c}.",
        "a picture of a {c}.",
        "a drawing of a {c}.",
        "there is a {c}.",
        "one {c}.",
        "a single {c}.",
    ),
    "colour": (
        "one {c} shape.",
        "a picture of one {c} object.",
        "a drawing of one {c} shape.",
        "there is one {c} figure.",
        "a single {c} shape.",
    ),
    "colour-shape": (
        "{c}.",
        "one {c}.",
        "a picture of one {c}.",
        "a drawing of one {c}.",
        "there is one {c}.",
        "a single {c}.",
    ),
}


def classification_info(factor: Factor) -> ClassificationInfo:
    """Class names, templates and (for ``colour-shape``) superclasses of a factor."""
    if factor == "shape":
        return ClassificationInfo(tuple(s.name for s in SHAPES), TEMPLATES[factor])
    if factor == "colour":
        return ClassificationInfo(tuple(c.name for c in COLOURS), TEMPLATES[factor])
    if factor == "colour-shape":
        return ClassificationInfo(
            classnames=tuple(f"{c.name} {s.name}" for s in SHAPES for c in COLOURS),
            templates=TEMPLATES[factor],
            superclasses=tuple(s.name for s in SHAPES for _ in COLOURS),
        )
    raise ValueError(f"unknown label factor {factor!r}; expected one of {FACTORS}")


def label_of(factor: Factor, colour: str, shape: str) -> int:
    """The class index of an object of ``colour`` and ``shape`` under ``factor``."""
    shape_index = next(i for i, s in enumerate(SHAPES) if s.name == shape)
    colour_index = next(i for i, c in enumerate(COLOURS) if c.name == colour)
    if factor == "shape":
        return shape_index
    if factor == "colour":
        return colour_index
    return shape_index * len(COLOURS) + colour_index
