"""Scene specifications: what is in an image, independent of its resolution.

A :class:`Scene` is sampled from an :class:`~cyclip.world.rng.ItemRng`, then rendered
(:mod:`cyclip.world.render`) and described (:mod:`cyclip.world.captions`). Keeping the scene as
plain data is what lets tests check that captions are true of images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cyclip.world.rng import ItemRng
from cyclip.world.vocabulary import GRID, SIZES, colour_by_name

Style = Literal["filled", "outline"]
Texture = Literal["plain", "noisy"]

OBJECT_COUNT_WEIGHTS = {1: 0.4, 2: 0.4, 3: 0.2}
"""How many objects a captioned (pre-training / retrieval) scene holds."""
DUPLICATE_PROBABILITY = 0.25
"""Chance that a further object repeats the colour and shape of an earlier one (count captions)."""
SIZE_JITTER = 0.06
COLOUR_JITTER = 14
"""Per-channel jitter of object colours: small next to the distance between named colours."""
BACKGROUND_GREY = (135, 200)
BACKGROUND_TINT = 8


@dataclass(frozen=True)
class SceneObject:
    """One object. Positions and sizes are fractions of the image side."""

    colour: str
    shape: str
    size: str
    row: int
    """Grid row, 0 = top."""
    col: int
    """Grid column, 0 = left."""
    centre: tuple[float, float]
    """(x, y) of the object's centre, inside its cell."""
    diameter: float
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    """Objects on a background, plus the rendering style."""

    objects: tuple[SceneObject, ...]
    background: tuple[int, int, int]
    style: Style = "filled"
    """``outline`` draws only the contour of each object (the sketch shift)."""
    texture: Texture = "plain"
    """``noisy`` replaces the plain background with a random texture and adds pixel noise."""
    texture_seed: int = 0


def _jitter_rgb(rng: ItemRng, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, round(v + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER)))) for v in rgb)
    return (r, g, b)


def sample_object(rng: ItemRng, colour: str, shape: str, cell: tuple[int, int]) -> SceneObject:
    """An object of the given colour and shape in ``cell``, with random size and placement."""
    size = rng.choice(SIZES)
    diameter = size.diameter * rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER)
    cell_side = 1.0 / GRID
    # Stay inside the cell so the row/column named by a caption is the one the eye sees.
    slack = max(0.0, (cell_side - diameter) / 2) * 0.9
    row, col = cell
    centre = (
        (col + 0.5) * cell_side + rng.uniform(-slack, slack),
        (row + 0.5) * cell_side + rng.uniform(-slack, slack),
    )
    rgb = _jitter_rgb(rng, colour_by_name(colour).rgb)
    return SceneObject(colour, shape, size.name, row, col, centre, diameter, rgb)


def sample_background(rng: ItemRng) -> tuple[int, int, int]:
    """A light-to-mid neutral grey with a slight tint: every named colour stands out on it."""
    grey = rng.uniform(*BACKGROUND_GREY)
    r, g, b = (round(grey + rng.uniform(-BACKGROUND_TINT, BACKGROUND_TINT)) for _ in range(3))
    return (r, g, b)


def sample_captioned_scene(rng: ItemRng, pairs: Sequence[tuple[str, str]]) -> Scene:
    """A 1-3 object scene whose objects' (colour, shape) are drawn from ``pairs``.

    Objects occupy distinct grid cells; with :data:`DUPLICATE_PROBABILITY` an object repeats an
    earlier one's colour and shape, so captions can count ("two red circles").
    """
    n = rng.weighted(list(OBJECT_COUNT_WEIGHTS), list(OBJECT_COUNT_WEIGHTS.values()))
    cells = rng.sample([(r, c) for r in range(GRID) for c in range(GRID)], n)
    background = sample_background(rng)
    objects: list[SceneObject] = []
    for cell in cells:
        if objects and rng.chance(DUPLICATE_PROBABILITY):
            earlier = rng.choice(objects)
            colour, shape = earlier.colour, earlier.shape
        else:
            colour, shape = rng.choice(pairs)
        objects.append(sample_object(rng, colour, shape, cell))
    return Scene(tuple(objects), background)


def sample_single_object_scene(
    rng: ItemRng,
    colour: str,
    shape: str,
    *,
    style: Style = "filled",
    texture: Texture = "plain",
) -> Scene:
    """One object of a given colour and shape in a random cell (classification images)."""
    cell = (rng.below(GRID), rng.below(GRID))
    background = sample_background(rng)
    obj = sample_object(rng, colour, shape, cell)
    texture_seed = rng.seed() if texture == "noisy" else 0
    return Scene((obj,), background, style, texture, texture_seed)
