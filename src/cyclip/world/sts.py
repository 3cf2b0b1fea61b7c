"""Sentence similarity in the builtin world: caption pairs with a graded gold score.

``builtin:shapes/sts`` holds pairs of captions from the world's grammar
(:mod:`cyclip.world.captions`), each caption describing a scene, and a gold similarity in
[0, 5] (the STS Benchmark's scale) computed from the two scenes, never from the words.

How a pair is made. Both captions follow one :class:`~cyclip.world.captions.CaptionPlan` (the
attributes they mention), drawn as for pre-training captions. Scene A is a captioned scene
(1-3 objects); scene B is, by :data:`PAIR_KINDS`:

- ``paraphrase``: A itself, described again in other words (another sentence frame,
  determiner, synonym or attribute form);
- ``one-edit`` / ``two-edits``: A after one or two edits, each one of: recolour an object,
  change its shape, change its size, add an object in a free cell (half the time a copy of an
  existing object's colour and shape, which changes a count: "a red circle" -> "two red
  circles"), remove an object. Every object keeps its grid cell, so the positions and the
  relations ("left of", "above") the two captions state agree wherever both state them;
- ``unrelated``: an independent scene (which may still share colours or shapes by chance).

The gold rule. Let ATTR be the attributes both captions mention (colour, shape, size, position;
a caption shortened to fit the token budget drops position, then size, and the rule follows
it). Two objects agree on the fraction of ATTR they share (position = the same grid cell). With
``n_A``, ``n_B`` objects and ``M`` the largest total agreement of a one-to-one matching of A's
objects to B's, the gold is the Dice overlap of the described scenes::

    gold = 5 * 2 * M / (n_A + n_B)

So a paraphrase scores 5; an edit that changes an attribute the captions mention lowers the
gold by the share of the described content it changes (an edit to an unmentioned attribute
leaves it at 5: the two sentences then say the same thing); adding or removing an object
lowers it through the counts; unrelated scenes score what they share by chance, usually little.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cyclip.world.captions import CaptionPlan, describe_with_plan, sample_plan
from cyclip.world.rng import ItemRng
from cyclip.world.scene import Scene, SceneObject, sample_captioned_scene, sample_object
from cyclip.world.vocabulary import GRID, SIZES, seen_pairs

STS_VERSION = "sts-v1"
"""Version of the pair-making and gold rule; part of the task's fingerprint."""
MAX_SCORE = 5.0
PAIR_KINDS = {"paraphrase": 0.2, "one-edit": 0.3, "two-edits": 0.2, "unrelated": 0.3}
"""Kinds of pairs and how often each is drawn."""
EDITS = ("recolour", "reshape", "resize", "add", "remove")
COUNT_COPY_PROBABILITY = 0.5
"""Chance that an added object copies an existing object's colour and shape (a count edit)."""
MAX_OBJECTS = 3
PARAPHRASE_TRIES = 20
"""Attempts at a paraphrase whose words differ from the first caption."""
ATTRIBUTES = ("colour", "shape", "size", "position")


def text_only_error(name: str) -> ValueError:
    """What image tools (show, export) say when asked for this text-only task."""
    return ValueError(
        f"{name} is a text-only task (caption pairs, no images); evaluate it with "
        f"'cyclip eval --task sts --data builtin:{name}'"
    )


@dataclass(frozen=True)
class STSPair:
    """One pair: the two scenes, their captions, what the captions mention, and the gold."""

    kind: str
    scene_a: Scene
    scene_b: Scene
    sentence1: str
    sentence2: str
    attributes: tuple[str, ...]
    """Attributes both captions mention (the ATTR of the gold rule)."""
    score: float


def mentioned(plan: CaptionPlan) -> tuple[str, ...]:
    """The attributes a caption following ``plan`` states."""
    flags = {
        "colour": plan.colour,
        "shape": plan.shape,
        "size": plan.size,
        "position": plan.position,
    }
    return tuple(a for a in ATTRIBUTES if flags[a])


def object_agreement(a: SceneObject, b: SceneObject, attributes: Sequence[str]) -> float:
    """Fraction of ``attributes`` on which two objects agree (position: the same grid cell)."""
    if not attributes:
        raise ValueError("object_agreement needs at least one attribute to compare")

    def value(obj: SceneObject, attribute: str) -> object:
        return (obj.row, obj.col) if attribute == "position" else getattr(obj, attribute)

    same = sum(value(a, attr) == value(b, attr) for attr in attributes)
    return same / len(attributes)


def gold_similarity(scene_a: Scene, scene_b: Scene, attributes: Sequence[str]) -> float:
    """The gold rule of the module docstring: ``5 * 2M / (n_A + n_B)``, in [0, 5]."""
    small, large = sorted((scene_a.objects, scene_b.objects), key=len)
    if not small:
        raise ValueError("gold_similarity needs scenes with objects")
    best = max(
        sum(object_agreement(small[i], large[j], attributes) for i, j in enumerate(perm))
        for perm in itertools.permutations(range(len(large)), len(small))
    )
    return MAX_SCORE * 2.0 * best / (len(small) + len(large))


def _free_cells(scene: Scene) -> list[tuple[int, int]]:
    taken = {(o.row, o.col) for o in scene.objects}
    return [(r, c) for r in range(GRID) for c in range(GRID) if (r, c) not in taken]


def _edit(rng: ItemRng, scene: Scene) -> Scene:
    """``scene`` after one random edit that keeps every remaining object in its cell."""
    objects = list(scene.objects)
    possible = [
        e
        for e in EDITS
        if not (e == "add" and len(objects) >= MAX_OBJECTS)
        and not (e == "remove" and len(objects) <= 1)
    ]
    edit = rng.choice(possible)
    pairs = seen_pairs()
    if edit == "add":
        cell = rng.choice(_free_cells(scene))
        if rng.chance(COUNT_COPY_PROBABILITY):
            model = rng.choice(objects)
            colour, shape = model.colour, model.shape
        else:
            colour, shape = rng.choice(pairs)
        objects.append(sample_object(rng, colour, shape, cell))
    elif edit == "remove":
        objects.pop(rng.below(len(objects)))
    else:
        k = rng.below(len(objects))
        obj = objects[k]
        if edit == "recolour":
            options = [c for c, s in pairs if s == obj.shape and c != obj.colour]
            objects[k] = replace(obj, colour=rng.choice(options))
        elif edit == "reshape":
            options = [s for c, s in pairs if c == obj.colour and s != obj.shape]
            objects[k] = replace(obj, shape=rng.choice(options))
        else:
            other = [s for s in SIZES if s.name != obj.size]
            size = rng.choice(other)
            objects[k] = replace(obj, size=size.name, diameter=size.diameter)
    return replace(scene, objects=tuple(objects))


def make_pair(rng: ItemRng) -> STSPair:
    """One pair of the task, drawn from the item's random stream."""
    kinds = list(PAIR_KINDS)
    kind = rng.weighted(kinds, list(PAIR_KINDS.values()))
    pairs = seen_pairs()
    scene_a = sample_captioned_scene(rng, pairs)
    plan = sample_plan(rng)
    if kind == "paraphrase":
        scene_b = scene_a
    elif kind == "unrelated":
        scene_b = sample_captioned_scene(rng, pairs)
    else:
        scene_b = _edit(rng, scene_a)
        if kind == "two-edits":
            scene_b = _edit(rng, scene_b)
    text_a, plan_a = describe_with_plan(scene_a, rng, plan)
    text_b, plan_b = describe_with_plan(scene_b, rng, plan)
    for _ in range(PARAPHRASE_TRIES if kind == "paraphrase" else 0):
        if text_b != text_a:
            break
        text_b, plan_b = describe_with_plan(scene_b, rng, plan)
    said_b = set(mentioned(plan_b))
    attributes = tuple(a for a in mentioned(plan_a) if a in said_b)
    score = gold_similarity(scene_a, scene_b, attributes)
    return STSPair(kind, scene_a, scene_b, text_a, text_b, attributes, score)


def definition() -> tuple:
    """Everything that decides the pairs and their gold, for the task's fingerprint."""
    return (
        STS_VERSION,
        MAX_SCORE,
        tuple(PAIR_KINDS.items()),
        EDITS,
        COUNT_COPY_PROBABILITY,
        MAX_OBJECTS,
        PARAPHRASE_TRIES,
    )
