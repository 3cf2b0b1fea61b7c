"""The words and attributes of the builtin world, version ``shapes-v1``.

Everything here is data. Changing any of it changes the images or captions the world produces,
so a change must bump :data:`WORLD_VERSION` (feature caches key on it through
:func:`cyclip.world.fingerprint`, which also hashes this vocabulary to catch forgotten bumps).

Synonyms are fixed aliases of one canonical word and never cross canonical meanings ("crimson"
always means the rendered red, never orange), so a text encoder can learn them from the captions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

WORLD_VERSION = "shapes-v1"
"""Current version of the world; the task-name prefix ``shapes`` is an alias of it."""


@dataclass(frozen=True)
class Colour:
    """A named object colour."""

    name: str
    """Canonical name, used as the class name."""
    rgb: tuple[int, int, int]
    """Rendered colour before the small per-object jitter."""
    synonyms: tuple[str, ...] = ()
    """Other words captions may use for this colour."""


@dataclass(frozen=True)
class Shape:
    """A named shape; the geometry lives in :mod:`cyclip.world.render`."""

    name: str
    """Canonical name, used as the class name."""
    plural: str
    synonyms: tuple[tuple[str, str], ...] = ()
    """(singular, plural) aliases captions may use."""


@dataclass(frozen=True)
class Size:
    """A named object size; the diameter is a fraction of the image side."""

    name: str
    diameter: float
    synonyms: tuple[str, ...] = ()


COLOURS: tuple[Colour, ...] = (
    Colour("red", (214, 39, 40), ("crimson",)),
    Colour("orange", (255, 140, 0)),
    Colour("yellow", (250, 220, 30), ("golden",)),
    Colour("green", (34, 160, 60)),
    Colour("blue", (31, 90, 220)),
    Colour("purple", (140, 60, 190), ("violet",)),
    Colour("pink", (255, 130, 200)),
    Colour("black", (20, 20, 20)),
)

SHAPES: tuple[Shape, ...] = (
    Shape("circle", "circles", (("disc", "discs"),)),
    Shape("square", "squares", (("box", "boxes"),)),
    Shape("triangle", "triangles"),
    Shape("star", "stars"),
    Shape("cross", "crosses", (("plus sign", "plus signs"),)),
    Shape("hexagon", "hexagons"),
    Shape("diamond", "diamonds"),
    Shape("heart", "hearts"),
)

# A 3x3 grid: 64 px / 3 = 21 px cells, so a large object fills about one cell and objects in
# different cells never overlap.
SIZES: tuple[Size, ...] = (
    Size("small", 0.20, ("little", "tiny")),
    Size("large", 0.31, ("big",)),
)

HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("purple", "circle"),
    ("yellow", "square"),
    ("blue", "triangle"),
    ("red", "star"),
    ("green", "cross"),
    ("pink", "hexagon"),
    ("black", "diamond"),
    ("orange", "heart"),
)
"""(colour, shape) combinations that never appear in pre-training, validation, retrieval or the
train/test classification splits; the ``novel`` splits contain only these. One colour per shape and
one shape per colour, so every colour and every shape is still seen in pre-training (7 of its 8
combinations) and only the combination is new."""

GENERIC_NOUNS: tuple[tuple[str, str], ...] = (
    ("shape", "shapes"),
    ("object", "objects"),
    ("figure", "figures"),
)
"""(singular, plural) nouns a caption uses when it leaves out which shape an object is."""

NUMBER_WORDS = {2: "two", 3: "three"}

GRID = 3
"""Objects sit in the cells of a GRID x GRID layout; rows count from the top, columns from the left."""

CELL_PHRASES: dict[tuple[int, int], tuple[str, ...]] = {
    (0, 0): ("in the top left corner", "at the top left", "in the upper left"),
    (0, 1): ("at the top middle", "in the top centre"),
    (0, 2): ("in the top right corner", "at the top right", "in the upper right"),
    (1, 0): ("on the left", "on the left side", "at the left"),
    (1, 1): ("in the centre", "in the middle", "at the center"),
    (1, 2): ("on the right", "on the right side", "at the right"),
    (2, 0): ("in the bottom left corner", "at the bottom left", "in the lower left"),
    (2, 1): ("at the bottom middle", "in the bottom centre"),
    (2, 2): ("in the bottom right corner", "at the bottom right", "in the lower right"),
}
"""Exact position of an object: (row, column) -> phrases naming that cell only."""

ROW_PHRASES: dict[int, tuple[str, ...]] = {
    0: ("at the top", "near the top"),
    2: ("at the bottom", "near the bottom"),
}
"""Partial position: phrases true of any object in that row."""

COLUMN_PHRASES: dict[int, tuple[str, ...]] = {
    0: ("on the left", "on the left side"),
    2: ("on the right", "on the right side"),
}
"""Partial position: phrases true of any object in that column."""


def colour_by_name(name: str) -> Colour:
    """The :class:`Colour` with canonical name ``name``."""
    for colour in COLOURS:
        if colour.name == name:
            return colour
    raise KeyError(f"no colour named {name!r}; known: {', '.join(c.name for c in COLOURS)}")


def shape_by_name(name: str) -> Shape:
    """The :class:`Shape` with canonical name ``name``."""
    for shape in SHAPES:
        if shape.name == name:
            return shape
    raise KeyError(f"no shape named {name!r}; known: {', '.join(s.name for s in SHAPES)}")


@cache
def seen_pairs() -> tuple[tuple[str, str], ...]:
    """(colour, shape) combinations allowed outside the ``novel`` splits, in a fixed order."""
    held = set(HELD_OUT_PAIRS)
    return tuple((c.name, s.name) for s in SHAPES for c in COLOURS if (c.name, s.name) not in held)
