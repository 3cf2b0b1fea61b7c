"""An independent reader of world captions, for checking that captions are true of scenes.

It knows only the vocabulary (words and their meanings), not how the grammar builds sentences,
so a grammar bug that says something false shows up as a disagreement with the scene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyclip.world.scene import Scene, SceneObject
from cyclip.world.vocabulary import (
    CELL_PHRASES,
    COLOURS,
    COLUMN_PHRASES,
    GENERIC_NOUNS,
    ROW_PHRASES,
    SHAPES,
    SIZES,
)

COLOUR_WORDS = {w: c.name for c in COLOURS for w in (c.name, *c.synonyms)}
SIZE_WORDS = {w: s.name for s in SIZES for w in (s.name, *s.synonyms)}
SHAPE_SINGULAR = {w: s.name for s in SHAPES for w in (s.name, *(a for a, _ in s.synonyms))}
SHAPE_PLURAL = {w: s.name for s in SHAPES for w in (s.plural, *(b for _, b in s.synonyms))}
GENERIC_SINGULAR = {a for a, _ in GENERIC_NOUNS}
GENERIC_PLURAL = {b for _, b in GENERIC_NOUNS}
NUMBERS = {"two": 2, "three": 3}


def _position_meanings() -> dict[str, set[tuple[int, int]]]:
    cells = [(r, c) for r in range(3) for c in range(3)]
    meaning: dict[str, set[tuple[int, int]]] = {}
    for cell, phrases in CELL_PHRASES.items():
        for p in phrases:
            meaning.setdefault(p, set()).add(cell)
    for row, phrases in ROW_PHRASES.items():
        for p in phrases:
            meaning.setdefault(p, set()).update(c for c in cells if c[0] == row)
    for col, phrases in COLUMN_PHRASES.items():
        for p in phrases:
            meaning.setdefault(p, set()).update(c for c in cells if c[1] == col)
    return meaning


POSITION_MEANINGS = _position_meanings()


def words(caption: str) -> list[str]:
    """Lower-case words; two-word shape names joined into one ('plus sign' -> 'cross')."""
    text = caption.lower().replace("plus signs", "crosses").replace("plus sign", "cross")
    return re.findall(r"[a-z]+", text)


@dataclass
class Mention:
    """A described object or group: attributes it names and how many it claims (None: one+)."""

    colour: str | None
    shape: str | None
    size: str | None
    count: int | None


def matches(obj: SceneObject, m: Mention) -> bool:
    return (
        (m.colour is None or obj.colour == m.colour)
        and (m.shape is None or obj.shape == m.shape)
        and (m.size is None or obj.size == m.size)
    )


def mentions(caption: str) -> list[Mention]:
    """Noun phrases of a caption: adjectives before a noun, or 'noun that is/in/coloured colour'."""
    ws = words(caption)
    found: list[Mention] = []
    for i, w in enumerate(ws):
        is_shape = w in SHAPE_SINGULAR or w in SHAPE_PLURAL
        is_generic = w in GENERIC_SINGULAR or w in GENERIC_PLURAL
        if not (is_shape or is_generic):
            continue
        shape = SHAPE_SINGULAR.get(w) or SHAPE_PLURAL.get(w)
        colour = size = None
        count: int | None = None
        j = i - 1
        while j >= 0 and (ws[j] in COLOUR_WORDS or ws[j] in SIZE_WORDS):
            colour = COLOUR_WORDS.get(ws[j], colour)
            size = SIZE_WORDS.get(ws[j], size)
            j -= 1
        if j >= 0 and ws[j] in NUMBERS:
            count = NUMBERS[ws[j]]
        elif j >= 2 and ws[j - 2 : j + 1] == ["a", "pair", "of"]:
            count = 2
        # Post-nominal colour: 'circle that is red', 'circle in red', 'circle coloured red',
        # and the predicate 'the circle is small and red'.
        k = i + 1
        while k < len(ws) and ws[k] in ("that", "is", "in", "coloured", "and"):
            k += 1
            while k < len(ws) and ws[k] in SIZE_WORDS:
                size = SIZE_WORDS[ws[k]]
                k += 1
            if k < len(ws) and ws[k] in COLOUR_WORDS:
                colour = COLOUR_WORDS[ws[k]]
                break
        found.append(Mention(colour, shape, size, count))
    return found


def check_caption(scene: Scene, caption: str) -> list[str]:
    """Statements of ``caption`` that are false of ``scene`` (empty when all is true)."""
    problems = []
    ws = words(caption)
    scene_colours = {o.colour for o in scene.objects}
    scene_shapes = {o.shape for o in scene.objects}
    for w in ws:
        if w in COLOUR_WORDS and COLOUR_WORDS[w] not in scene_colours:
            problems.append(f"colour {w!r} not in scene")
        shape = SHAPE_SINGULAR.get(w) or SHAPE_PLURAL.get(w)
        if shape is not None and shape not in scene_shapes:
            problems.append(f"shape {w!r} not in scene")
    for m in mentions(caption):
        # A bare count ("three shapes: ...") matches every object.
        n_match = sum(matches(o, m) for o in scene.objects)
        if n_match == 0:
            problems.append(f"no object matches {m}")
        if m.count is not None and n_match != m.count:
            problems.append(f"{m} claims {m.count} objects, scene has {n_match}")
    if len(scene.objects) == 1:
        cell = (scene.objects[0].row, scene.objects[0].col)
        text = " ".join(ws)
        for phrase, cells in POSITION_MEANINGS.items():
            if re.search(rf"\b{phrase}\b", text) and cell not in cells:
                problems.append(f"position {phrase!r} is false of cell {cell}")
    return problems
