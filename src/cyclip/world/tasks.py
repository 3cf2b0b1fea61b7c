"""The named benchmark suite of the builtin world: task names, kinds, default sizes, fingerprints.

Names look like ``shapes/pretrain`` or ``shapes/colour-shape/novel``; ``builtin:`` in front and the
explicit version ``shapes-v1`` in place of ``shapes`` are accepted too. A name plus a size and an
image size determines every pixel and caption (see :func:`fingerprint`).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from typing import Literal

from cyclip.types import BUILTIN_PREFIX
from cyclip.world import captions, classes, compositional, scene, sts, textures, vocabulary
from cyclip.world.classes import FACTORS, Factor
from cyclip.world.vocabulary import WORLD_VERSION

TaskKind = Literal["pairs", "retrieval", "classification", "compositional", "sts"]
Split = Literal["train", "test", "sketch", "noisy", "novel"]

WORLD_PREFIX = "shapes"
"""Alias of the current version in task names."""

# Default sizes, in one place. Chosen so that the whole evaluation suite (retrieval, val pairs and
# 3 x 5 classification splits, which share images across the three label factors) renders and
# embeds in well under a minute with cyclip-small on two CPU cores.
PRETRAIN_SIZE = 100_000
"""Pre-training pairs: each index a distinct scene with one sampled caption."""
VAL_SIZE = 2_000
"""Held-out pairs (for the validation loss and the geometry analyses)."""
RETRIEVAL_SIZE = 1_000
"""Retrieval images, each with :data:`CAPTIONS_PER_IMAGE` distinct captions."""
CAPTIONS_PER_IMAGE = 5
COMPOSITIONAL_SIZE = 1_000
"""Compositional items (image, true caption, hard negative), 200 per category."""
STS_SIZE = 1_000
"""Caption pairs with a graded gold similarity (text only, :mod:`cyclip.world.sts`)."""
CLASSIFICATION_SIZES: dict[Split, int] = {
    "train": 3_024,  # 54 images per seen colour-shape pair (56 pairs): exact class balance
    "test": 1_008,  # 18 per seen pair
    "sketch": 1_008,  # the test classes, outline-only rendering
    "noisy": 1_008,  # the test classes on textured backgrounds with pixel noise
    "novel": 1_000,  # 125 per held-out pair (8 pairs)
}
SPLITS: tuple[Split, ...] = tuple(CLASSIFICATION_SIZES)


@dataclass(frozen=True)
class TaskSpec:
    """What a task name stands for."""

    name: str
    """Canonical name without prefix, e.g. ``shapes/colour/test``."""
    kind: TaskKind
    size: int
    """Default number of items."""
    stream: str
    """Seed namespace of the items; tasks with the same stream show the same images."""
    factor: Factor | None = None
    split: Split | None = None


def _build_registry() -> dict[str, TaskSpec]:
    tasks = [
        TaskSpec(f"{WORLD_PREFIX}/pretrain", "pairs", PRETRAIN_SIZE, "pretrain"),
        TaskSpec(f"{WORLD_PREFIX}/val", "pairs", VAL_SIZE, "val"),
        TaskSpec(f"{WORLD_PREFIX}/retrieval", "retrieval", RETRIEVAL_SIZE, "retrieval"),
        TaskSpec(f"{WORLD_PREFIX}/sts", "sts", STS_SIZE, "sts"),
    ]
    tasks.append(
        TaskSpec(
            f"{WORLD_PREFIX}/compositional", "compositional", COMPOSITIONAL_SIZE, "compositional"
        )
    )
    for factor in FACTORS:
        for split, size in CLASSIFICATION_SIZES.items():
            name = f"{WORLD_PREFIX}/{factor}/{split}"
            tasks.append(
                TaskSpec(name, "classification", size, f"classification/{split}", factor, split)
            )
    return {t.name: t for t in tasks}


TASKS: dict[str, TaskSpec] = _build_registry()


def canonical_name(name: str) -> str:
    """``builtin:shapes-v1/val`` -> ``shapes/val`` (no check that the task exists)."""
    bare = name.strip()
    if bare.startswith(BUILTIN_PREFIX):
        bare = bare[len(BUILTIN_PREFIX) :]
    head, sep, rest = bare.partition("/")
    if head == WORLD_VERSION:
        head = WORLD_PREFIX
    return f"{head}{sep}{rest}"


def resolve(name: str, kind: TaskKind | None = None) -> TaskSpec:
    """The :class:`TaskSpec` of a task name; ``kind`` additionally checks what the caller needs.

    Raises:
        ValueError: unknown name (the message lists the valid names and the closest match), or a
            task of another kind than ``kind``.
    """
    canonical = canonical_name(name)
    spec = TASKS.get(canonical)
    if spec is None:
        head = canonical.partition("/")[0]
        if head.startswith(WORLD_PREFIX + "-v") and head != WORLD_VERSION:
            raise ValueError(
                f"builtin world version {head!r} is not available; this cyclip provides "
                f"{WORLD_VERSION!r} (alias {WORLD_PREFIX!r})"
            )
        close = difflib.get_close_matches(canonical, list(TASKS), n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"unknown builtin task {name!r}.{hint} Valid names (optionally prefixed "
            f"'{BUILTIN_PREFIX}'): {', '.join(TASKS)}"
        )
    if kind is not None and spec.kind != kind:
        same_kind = [t for t, s in TASKS.items() if s.kind == kind]
        raise ValueError(
            f"builtin task {spec.name!r} is a {spec.kind} task, not {kind}; "
            f"{kind} tasks are: {', '.join(same_kind)}"
        )
    return spec


def _digest(parts: object) -> str:
    """12 hex digits of ``repr(parts)``: the identity of a world definition in fingerprints."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


def _definition_digest() -> str:
    # Everything that decides pixels and captions, so a forgotten version bump still changes the
    # fingerprint (and invalidates feature caches). Code changes are covered by WORLD_VERSION.
    parts = (
        vocabulary.COLOURS,
        vocabulary.SHAPES,
        vocabulary.SIZES,
        vocabulary.HELD_OUT_PAIRS,
        vocabulary.GENERIC_NOUNS,
        vocabulary.CELL_PHRASES,
        vocabulary.ROW_PHRASES,
        vocabulary.COLUMN_PHRASES,
        classes.TEMPLATES,
        scene.OBJECT_COUNT_WEIGHTS,
        scene.DUPLICATE_PROBABILITY,
        scene.SIZE_JITTER,
        scene.COLOUR_JITTER,
        scene.BACKGROUND_GREY,
        scene.BACKGROUND_TINT,
        textures.TEXTURES,
        textures.TEXTURE_AMPLITUDE,
        textures.PIXEL_NOISE_AMPLITUDE,
        captions.TOKEN_BUDGET,
        captions.SYNONYM_PROBABILITY,
        captions.IMAGE_NOUNS,
        captions.BACKGROUND_PHRASES,
        CAPTIONS_PER_IMAGE,
    )
    return _digest(parts)


def fingerprint(name: str, size: int | None = None, image_size: int = 64) -> str:
    """A stable string naming the exact data of a task, for feature caches.

    Example: ``builtin:shapes-v1/colour/test?n=1008&px=64&def=3f2a...``.
    """
    spec = resolve(name)
    n = spec.size if size is None else size
    path = spec.name.replace(WORLD_PREFIX, WORLD_VERSION, 1)
    if spec.kind == "sts":  # text only: no pixels; the pair rule has its own digest
        return f"{BUILTIN_PREFIX}{path}?n={n}&def={_definition_digest()}&rule={_sts_digest()}"
    out = f"{BUILTIN_PREFIX}{path}?n={n}&px={image_size}&def={_definition_digest()}"
    if spec.kind == "compositional":
        out += f"&comp={_compositional_digest()}"
    return out


def _compositional_digest() -> str:
    # Kept apart from the shared digest, so adding the compositional task left every other
    # task's fingerprint (and the features cached under it) unchanged.
    parts = (
        compositional.CATEGORIES,
        compositional.FRAMES,
        compositional.RELATION_PHRASES,
        compositional.COUNTS,
    )
    return _digest(parts)


def _sts_digest() -> str:
    # Apart from the shared digest too: adding shapes/sts changed no other task's fingerprint.
    return _digest(sts.definition())
