"""Compositional items of the builtin world: one image, its true caption and a hard negative.

Each item of ``shapes/compositional`` is a scene of two or more objects with a caption that is
true of it and a negative caption the grammar derives from the positive by exactly one edit:

- ``swap_att``: the colours of the two named objects are exchanged ("a red circle and a blue
  square" vs "a blue circle and a red square"): attribute binding;
- ``swap_rel``: the relation is replaced by its converse (left of vs right of, above vs below);
- ``count``: the number of one group is changed ("two red circles" vs "three red circles");
- ``replace_att``: one object's colour is replaced by a colour absent from the scene;
- ``replace_obj``: one object's shape is replaced by a shape absent from the scene.

Captions are plain data (:class:`CaptionSpec`) rendered by :func:`render_caption`, so the edit is
checkable by comparing specs, and :func:`holds` decides whether a spec is true of a scene (the
positive always is, the negative never). Both captions of an item use the same sentence frame and
only canonical words (no synonyms), and every colour-shape combination either caption names is a
pre-training pair: the negative is as plausible as text as the positive, so a text-only model has
nothing to go on (chance: 50 % per pair).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from cyclip.world.captions import true_relations
from cyclip.world.rng import ItemRng
from cyclip.world.scene import Scene, sample_background, sample_object
from cyclip.world.vocabulary import COLOURS, GRID, NUMBER_WORDS, SHAPES, seen_pairs, shape_by_name

CATEGORIES = ("swap_att", "swap_rel", "count", "replace_att", "replace_obj")
"""Item ``i`` is of category ``CATEGORIES[i % 5]``."""
FRAMES = (
    "{x}.",
    "a picture of {x}.",
    "an image of {x}.",
    "a drawing of {x}.",
    "a scene with {x}.",
    "{x} on a grey background.",
)
"""Sentence frames; the positive and the negative of an item share one."""
RELATION_PHRASES = {
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}
CONVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
COUNTS = (1, 2, 3)
"""Sizes of the counted group in ``count`` items (uniform, for positives and negatives alike)."""
MAX_TRIES = 1000


@dataclass(frozen=True)
class Mention:
    """One noun phrase: ``count`` objects of a colour and shape ("two red circles")."""

    count: int
    colour: str
    shape: str


@dataclass(frozen=True)
class CaptionSpec:
    """A caption as data: two mentions, joined by "and" or by a relation, in a frame."""

    mentions: tuple[Mention, Mention]
    relation: str | None
    """``None``: "A and B"; else "A <relation> B" with a name of :data:`RELATION_PHRASES`."""
    frame: str


@dataclass(frozen=True)
class CompositionalItem:
    """What item ``i`` shows and says, before rendering."""

    scene: Scene
    category: str
    positive: CaptionSpec
    negative: CaptionSpec


def _phrase(m: Mention) -> str:
    if m.count == 1:
        noun = f"{m.colour} {m.shape}"
        return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    return f"{NUMBER_WORDS[m.count]} {m.colour} {shape_by_name(m.shape).plural}"


def render_caption(spec: CaptionSpec) -> str:
    """The caption's text, capitalised: 'A picture of a red circle to the left of a blue star.'"""
    a, b = (_phrase(m) for m in spec.mentions)
    joined = (
        f"{a} and {b}" if spec.relation is None else f"{a} {RELATION_PHRASES[spec.relation]} {b}"
    )
    text = spec.frame.format(x=joined)
    return text[0].upper() + text[1:]


def holds(spec: CaptionSpec, scene: Scene) -> bool:
    """Whether the caption is true of the scene: the scene holds exactly the mentioned objects
    (as many of each colour-shape as said, nothing else), and a relation holds between the two
    mentioned single objects."""
    said = Counter({(m.colour, m.shape): 0 for m in spec.mentions})
    for m in spec.mentions:
        said[(m.colour, m.shape)] += m.count
    if Counter((o.colour, o.shape) for o in scene.objects) != said:
        return False
    if spec.relation is None:
        return True
    if any(m.count != 1 for m in spec.mentions):
        return False
    a, b = (
        next(o for o in scene.objects if (o.colour, o.shape) == (m.colour, m.shape))
        for m in spec.mentions
    )
    return spec.relation in true_relations(a, b)


def _two_pairs(rng: ItemRng, swappable: bool) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two seen (colour, shape) pairs differing in colour and in shape; with ``swappable`` the
    colour-swapped pairs are seen pairs too."""
    seen = set(seen_pairs())
    for _ in range(MAX_TRIES):
        (c1, s1), (c2, s2) = rng.sample(seen_pairs(), 2)
        if c1 == c2 or s1 == s2:
            continue
        if swappable and not {(c2, s1), (c1, s2)} <= seen:
            continue
        return (c1, s1), (c2, s2)
    raise RuntimeError("no two swappable colour-shape pairs found")  # unreachable for shapes-v1


def _scene(rng: ItemRng, objects: list[tuple[str, str]], cells: list[tuple[int, int]]) -> Scene:
    background = sample_background(rng)
    placed = [sample_object(rng, c, s, cell) for (c, s), cell in zip(objects, cells, strict=True)]
    return Scene(tuple(placed), background)


def _random_cells(rng: ItemRng, n: int) -> list[tuple[int, int]]:
    return rng.sample([(r, c) for r in range(GRID) for c in range(GRID)], n)


def _relation_cells(rng: ItemRng, relation: str) -> list[tuple[int, int]]:
    """Cells of (A, B) with 'A <relation> B': same row for left/right, same column for
    above/below, so the converse relation is plainly false."""
    line = rng.below(GRID)
    first, second = sorted(rng.sample(range(GRID), 2))
    if relation in ("right", "below"):
        first, second = second, first
    if relation in ("left", "right"):
        return [(line, first), (line, second)]
    return [(first, line), (second, line)]


def _other(rng: ItemRng, options: list[str]) -> str:
    if not options:
        raise RuntimeError("no replacement word available")  # unreachable for shapes-v1
    return rng.choice(options)


def sample_item(rng: ItemRng, category: str) -> CompositionalItem:
    """A scene and its (positive, negative) captions for ``category`` (see the module doc)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown compositional category {category!r}; known: {CATEGORIES}")
    frame = rng.choice(FRAMES)
    p1, p2 = _two_pairs(rng, swappable=category == "swap_att")
    first = Mention(1, *p1)
    second = Mention(1, *p2)
    relation = None
    if category == "swap_rel":
        relation = rng.choice(list(RELATION_PHRASES))
        cells = _relation_cells(rng, relation)
        scene = _scene(rng, [p1, p2], cells)
    elif category == "count":
        first = Mention(rng.choice(COUNTS), *p1)
        objects = [p1] * first.count + [p2]
        scene = _scene(rng, objects, _random_cells(rng, len(objects)))
    else:
        scene = _scene(rng, [p1, p2], _random_cells(rng, 2))
    mentions = (first, second)
    if rng.chance(0.5) and relation is None:  # which group the caption names first
        mentions = (second, first)
    positive = CaptionSpec(mentions, relation, frame)
    negative = _negative(rng, category, positive, mentions.index(first))
    return CompositionalItem(scene, category, positive, negative)


def _negative(rng: ItemRng, category: str, positive: CaptionSpec, counted: int) -> CaptionSpec:
    """The positive with the one edit of ``category``; ``counted``: index of the counted mention
    of a ``count`` item."""
    a, b = positive.mentions
    if category == "swap_att":
        return replace(
            positive, mentions=(replace(a, colour=b.colour), replace(b, colour=a.colour))
        )
    if category == "swap_rel":
        assert positive.relation is not None
        return replace(positive, relation=CONVERSE[positive.relation])
    seen = set(seen_pairs())
    k = counted if category == "count" else rng.below(2)
    target = positive.mentions[k]
    if category == "count":
        edited = replace(target, count=rng.choice([n for n in COUNTS if n != target.count]))
    elif category == "replace_att":
        used = {m.colour for m in positive.mentions}
        options = [c.name for c in COLOURS if c.name not in used and (c.name, target.shape) in seen]
        edited = replace(target, colour=_other(rng, options))
    else:
        used = {m.shape for m in positive.mentions}
        options = [s.name for s in SHAPES if s.name not in used and (target.colour, s.name) in seen]
        edited = replace(target, shape=_other(rng, options))
    mentions = [edited if i == k else m for i, m in enumerate(positive.mentions)]
    return replace(positive, mentions=(mentions[0], mentions[1]))


__all__ = [
    "CATEGORIES",
    "CaptionSpec",
    "CompositionalItem",
    "Mention",
    "holds",
    "render_caption",
    "sample_item",
]
