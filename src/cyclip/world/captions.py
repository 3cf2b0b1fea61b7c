"""A caption grammar for scenes: many true sentences per image.

Every caption is built from the scene itself, so everything it says is true of the image: the
colours, shapes and sizes it names belong to the objects it describes, counts are exact for the
description used ("two circles" means exactly two circles), positions name the object's grid
cell (or its row or column), and relations compare grid cells. Variety comes from sentence
frames, determiners, synonyms, attribute forms and from leaving attributes out.

Captions stay short enough for a 32-token text encoder: :func:`describe` drops positions, then
sizes, when an estimate of the token count exceeds :data:`TOKEN_BUDGET`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cyclip.world.rng import ItemRng
from cyclip.world.scene import Scene, SceneObject
from cyclip.world.vocabulary import (
    CELL_PHRASES,
    COLUMN_PHRASES,
    GENERIC_NOUNS,
    NUMBER_WORDS,
    ROW_PHRASES,
    SIZES,
    colour_by_name,
    shape_by_name,
)

TOKEN_BUDGET = 28
"""Estimated BPE tokens allowed between the start and end tokens (a 32-token context has 30)."""
SYNONYM_PROBABILITY = 0.2

IMAGE_NOUNS = ("a picture of", "an image of", "a drawing of", "an illustration of", "a render of")
BACKGROUND_PHRASES = ("on a plain background", "on a grey background", "on a gray background")
# Words the CLIP BPE splits into several tokens; everything else in the grammar is one token.
_EXTRA_TOKENS = {"hexagon": 1, "hexagons": 2, "triangles": 1}


@dataclass(frozen=True)
class CaptionPlan:
    """Which attributes one caption mentions."""

    colour: bool = True
    shape: bool = True
    size: bool = False
    position: bool = False
    generic: tuple[str, str] = GENERIC_NOUNS[0]
    """(singular, plural) noun standing in for the shape when ``shape`` is False."""


@dataclass(frozen=True)
class _Group:
    """Objects a caption cannot tell apart under its plan (same described attributes)."""

    objects: tuple[SceneObject, ...]

    @property
    def first(self) -> SceneObject:
        return self.objects[0]

    @property
    def count(self) -> int:
        return len(self.objects)


def estimate_tokens(text: str) -> int:
    """Estimated CLIP BPE tokens of ``text`` (without start/end): words plus punctuation."""
    words = text.lower().replace(",", " ,").replace(".", " .").replace(":", " :").split()
    return len(words) + sum(_EXTRA_TOKENS.get(w, 0) for w in words)


def article(word: str) -> str:
    """The indefinite article before ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def sample_plan(rng: ItemRng) -> CaptionPlan:
    """Random attribute choices; never leaves out both colour and shape."""
    colour, shape = rng.chance(0.85), rng.chance(0.85)
    if not (colour or shape):
        colour, shape = (True, False) if rng.chance(0.5) else (False, True)
    return CaptionPlan(
        colour=colour,
        shape=shape,
        size=rng.chance(0.4),
        position=rng.chance(0.5),
        generic=rng.choice(GENERIC_NOUNS),
    )


def _colour_word(rng: ItemRng, name: str) -> str:
    synonyms = colour_by_name(name).synonyms
    return rng.choice(synonyms) if synonyms and rng.chance(SYNONYM_PROBABILITY) else name


def _noun(rng: ItemRng, obj: SceneObject, plan: CaptionPlan, plural: bool) -> str:
    if not plan.shape:
        return plan.generic[1] if plural else plan.generic[0]
    shape = shape_by_name(obj.shape)
    if shape.synonyms and rng.chance(SYNONYM_PROBABILITY):
        singular, plural_form = rng.choice(shape.synonyms)
        return plural_form if plural else singular
    return shape.plural if plural else shape.name


def _size_word(rng: ItemRng, name: str) -> str:
    size = next(s for s in SIZES if s.name == name)
    return rng.choice(size.synonyms) if size.synonyms and rng.chance(SYNONYM_PROBABILITY) else name


def group_objects(scene: Scene, plan: CaptionPlan) -> list[_Group]:
    """Objects grouped by the attributes ``plan`` mentions, in scene order."""
    groups: dict[tuple, list[SceneObject]] = {}
    for obj in scene.objects:
        key = (
            obj.colour if plan.colour else None,
            obj.shape if plan.shape else None,
            obj.size if plan.size else None,
        )
        groups.setdefault(key, []).append(obj)
    return [_Group(tuple(objs)) for objs in groups.values()]


def position_phrase(rng: ItemRng, obj: SceneObject) -> str:
    """A phrase naming the object's cell, or (less often) just its row or column."""
    options = list(CELL_PHRASES[(obj.row, obj.col)])
    partial = list(ROW_PHRASES.get(obj.row, ())) + list(COLUMN_PHRASES.get(obj.col, ()))
    if partial and rng.chance(0.3):
        options = partial
    return rng.choice(options)


def _bare_phrase(rng: ItemRng, group: _Group, plan: CaptionPlan) -> str:
    """Adjectives and noun without determiner: 'small red circles', 'circle that is red'."""
    obj, plural = group.first, group.count > 1
    noun = _noun(rng, obj, plan, plural)
    size = [_size_word(rng, obj.size)] if plan.size else []
    if plan.colour and plan.shape and not plural and rng.chance(0.15):
        word = _colour_word(rng, obj.colour)
        tail = rng.choice((f"that is {word}", f"in {word}", f"coloured {word}"))
        return " ".join([*size, noun, tail])
    colour = [_colour_word(rng, obj.colour)] if plan.colour else []
    return " ".join([*size, *colour, noun])


def noun_phrase(
    rng: ItemRng, group: _Group, plan: CaptionPlan, *, with_position: bool = True
) -> str:
    """A determiner phrase for a group: 'a small red circle on the left', 'two blue stars'."""
    bare = _bare_phrase(rng, group, plan)
    if group.count > 1:
        number = NUMBER_WORDS[group.count]
        if group.count == 2 and rng.chance(0.2):
            return f"a pair of {bare}"
        return f"{number} {bare}"
    det = "one" if rng.chance(0.15) else article(bare)
    phrase = f"{det} {bare}"
    if with_position and plan.position:
        phrase = f"{phrase} {position_phrase(rng, group.first)}"
    return phrase


def join_list(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _pick(rng: ItemRng, frames: Sequence[Callable[[], str]]) -> str:
    # Frames are built lazily so only the chosen one draws from the stream.
    return rng.choice(frames)()


def _list_caption(rng: ItemRng, n_objects: int, plan: CaptionPlan, groups: list[_Group]) -> str:
    listed = join_list([noun_phrase(rng, g, plan) for g in groups])
    be = "are" if groups[0].count > 1 else "is"
    frames: list[Callable[[], str]] = [
        lambda: f"{listed}.",
        lambda: listed,
        lambda: f"{rng.choice(IMAGE_NOUNS)} {listed}.",
        lambda: f"there {be} {listed}.",
        lambda: f"{listed} {rng.choice(BACKGROUND_PHRASES)}.",
        lambda: f"a scene with {listed}.",
        lambda: f"a picture with {listed}.",
    ]
    if n_objects > 1:
        frames.append(
            lambda: f"{NUMBER_WORDS[n_objects]} {rng.choice(GENERIC_NOUNS)[1]}: {listed}."
        )
    return _pick(rng, frames)


def _predicate_caption(rng: ItemRng, plan: CaptionPlan, obj: SceneObject) -> str:
    """'the circle is small and red'."""
    adjectives = [_size_word(rng, obj.size)] if plan.size else []
    adjectives += [_colour_word(rng, obj.colour)] if plan.colour else []
    return f"the {_noun(rng, obj, plan, False)} is {' and '.join(adjectives)}."


def _single_caption(rng: ItemRng, plan: CaptionPlan, group: _Group) -> str:
    obj = group.first
    frames: list[Callable[[], str]] = [lambda: _list_caption(rng, 1, plan, [group])]
    if plan.position:
        frames += [
            lambda: f"a single {_bare_phrase(rng, group, plan)} {position_phrase(rng, obj)}.",
            lambda: f"the {_bare_phrase(rng, group, plan)} is {position_phrase(rng, obj)}.",
            lambda: (
                f"{position_phrase(rng, obj)}, there is "
                f"{noun_phrase(rng, group, plan, with_position=False)}."
            ),
        ]
    else:
        frames += [
            lambda: f"a single {_bare_phrase(rng, group, plan)}.",
            lambda: f"{_bare_phrase(rng, group, plan)}.",
        ]
        if plan.shape and (plan.colour or plan.size):
            frames.append(lambda: _predicate_caption(rng, plan, obj))
    return _pick(rng, frames)


_RELATIONS = {
    # name: (phrase options for "A ... B", phrase options for B seen from A: "... with B <x>")
    "left": (("to the left of", "left of"), ("to its right",)),
    "right": (("to the right of", "right of"), ("to its left",)),
    "above": (("above",), ("below it", "under it")),
    "below": (("below", "under"), ("above it",)),
    "next": (("next to", "beside"), ("next to it", "beside it")),
}


def true_relations(a: SceneObject, b: SceneObject) -> list[str]:
    """Relation names that hold for 'a <relation> b' on the grid."""
    found = []
    if a.col < b.col:
        found.append("left")
    if a.col > b.col:
        found.append("right")
    if a.row < b.row:
        found.append("above")
    if a.row > b.row:
        found.append("below")
    if a.row == b.row and abs(a.col - b.col) == 1:
        found.append("next")
    return found


def _relation_caption(rng: ItemRng, plan: CaptionPlan, groups: list[_Group]) -> str:
    ga, gb = groups if rng.chance(0.5) else groups[::-1]
    relation = rng.choice(true_relations(ga.first, gb.first))
    forward, seen_from_a = _RELATIONS[relation]
    a = noun_phrase(rng, ga, plan, with_position=False)
    b = noun_phrase(rng, gb, plan, with_position=False)
    rel = rng.choice(forward)
    frames: list[Callable[[], str]] = [
        lambda: f"{a} {rel} {b}.",
        lambda: f"{rng.choice(IMAGE_NOUNS)} {a} {rel} {b}.",
        lambda: f"there is {a} {rel} {b}.",
        lambda: f"the {_bare_phrase(rng, ga, plan)} is {rel} the {_bare_phrase(rng, gb, plan)}.",
        lambda: f"{a} with {b} {rng.choice(seen_from_a)}.",
    ]
    return _pick(rng, frames)


def _compose(rng: ItemRng, scene: Scene, plan: CaptionPlan) -> str:
    groups = group_objects(scene, plan)
    if len(groups) == 1 and groups[0].count == 1:
        return _single_caption(rng, plan, groups[0])
    if len(groups) == 2 and all(g.count == 1 for g in groups) and rng.chance(0.4):
        return _relation_caption(rng, plan, groups)
    return _list_caption(rng, len(scene.objects), plan, groups)


def describe(scene: Scene, rng: ItemRng, plan: CaptionPlan | None = None) -> str:
    """One random true caption of ``scene``, capitalised, within :data:`TOKEN_BUDGET`."""
    return describe_with_plan(scene, rng, plan)[0]


def describe_with_plan(
    scene: Scene, rng: ItemRng, plan: CaptionPlan | None = None
) -> tuple[str, CaptionPlan]:
    """As :func:`describe`, also returning the plan the caption follows: ``plan`` itself, or
    ``plan`` without positions (then sizes) when the caption had to be shortened."""
    if not scene.objects:
        raise ValueError("cannot describe a scene without objects")
    plan = sample_plan(rng) if plan is None else plan
    for reduced in (plan, replace(plan, position=False), replace(plan, position=False, size=False)):
        text = _compose(rng, scene, reduced)
        if estimate_tokens(text) <= TOKEN_BUDGET:
            break
    return text[0].upper() + text[1:], reduced


def distinct_captions(scene: Scene, rng: ItemRng, k: int, max_tries: int = 200) -> list[str]:
    """``k`` different captions of ``scene`` (retrieval items have several per image)."""
    captions: list[str] = []
    for _ in range(max_tries):
        text = describe(scene, rng)
        if text not in captions:
            captions.append(text)
            if len(captions) == k:
                return captions
    raise RuntimeError(
        f"found only {len(captions)} distinct captions of {k} in {max_tries} tries for {scene}"
    )
