"""``builtin:NAME`` sources: the synthetic world of :mod:`cyclip.world`.

The one place that knows what a ``builtin:`` source string may be. A spec may carry options as a
query string: ``builtin:shapes/pretrain?size=5000&image_size=32`` (``n`` and ``px`` are accepted
as short names, as in the world's fingerprints). The task names themselves are the world's
(:mod:`cyclip.world.tasks`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from cyclip import world
from cyclip.types import BUILTIN_PREFIX
from cyclip.world.tasks import canonical_name

_OPTION_NAMES = {"size": "size", "n": "size", "image_size": "image_size", "px": "image_size"}

__all__ = [
    "BUILTIN_PREFIX",
    "builtin_fingerprint",
    "builtin_kind",
    "builtin_source",
    "builtin_task_name",
    "is_builtin",
    "open_builtin",
    "parse_builtin",
]


def is_builtin(source: str) -> bool:
    """Whether ``source`` names a builtin-world task (``builtin:NAME``)."""
    return source.startswith(BUILTIN_PREFIX)


def builtin_source(name: str, size: int | None = None, image_size: int | None = None) -> str:
    """``builtin:NAME`` with ``size`` / ``image_size`` options when given (inverse of
    :func:`parse_builtin`)."""
    options = [f"{k}={v}" for k, v in (("size", size), ("image_size", image_size)) if v is not None]
    return f"{BUILTIN_PREFIX}{name}" + (f"?{'&'.join(options)}" if options else "")


def parse_builtin(source: str) -> tuple[str, dict[str, int]]:
    """``builtin:NAME?k=v&...`` -> (NAME, {"size": ..., "image_size": ...}).

    Raises:
        ValueError: an unknown option or a non-integer value.
    """
    name, _, query = source.removeprefix(BUILTIN_PREFIX).partition("?")
    options: dict[str, int] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in _OPTION_NAMES:
            raise ValueError(
                f"{source}: unknown option {key!r}; builtin sources accept size= and image_size="
            )
        try:
            options[_OPTION_NAMES[key]] = int(value)
        except ValueError:
            raise ValueError(f"{source}: option {key}={value!r} is not an integer") from None
    return name, options


def builtin_task_name(source: str) -> str:
    """``builtin:shapes-v1/val?size=10`` -> ``shapes/val`` (the canonical task name)."""
    return canonical_name(parse_builtin(source)[0])


def builtin_kind(source: str) -> str:
    """``"pairs"``, ``"retrieval"`` or ``"classification"``.

    Raises:
        ValueError: a malformed spec or an unknown task (the message names the closest one).
    """
    name, _ = parse_builtin(source)
    return world.task_kind(name)


def open_builtin(source: str, kind: str) -> Any:
    """The world dataset of ``source`` (for classification, a (dataset, info) pair).

    Raises:
        ValueError: an unknown task, or a task of another kind (the world's message lists them).
    """
    name, options = parse_builtin(source)
    actual = world.task_kind(name)
    if actual != kind:
        same = [t for t in world.list_tasks() if world.task_kind(t) == kind]
        raise ValueError(
            f"{source} is a {actual} task, not {kind}; {kind} tasks: {', '.join(same)}"
        )
    loader = {
        "pairs": world.load_pairs,
        "retrieval": world.load_retrieval,
        "classification": world.load_classification,
    }
    return loader[kind](name, **options)


def builtin_fingerprint(source: str) -> str:
    """The world's own fingerprint of the task at these options."""
    name, options = parse_builtin(source)
    return world.fingerprint(name, options.get("size"), options.get("image_size", 64))
