"""``builtin:NAME`` sources: the synthetic world of :mod:`cyclip.world`.

A spec may carry options as a query string: ``builtin:shapes/pretrain?size=5000&image_size=32``
(``n`` and ``px`` are accepted as short names, as in the world's fingerprints).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

BUILTIN_PREFIX = "builtin:"
_OPTION_NAMES = {"size": "size", "n": "size", "image_size": "image_size", "px": "image_size"}


def is_builtin(source: str) -> bool:
    return source.startswith(BUILTIN_PREFIX)


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


def world() -> ModuleType:
    """The :mod:`cyclip.world` module, or a clear error if this installation lacks it."""
    try:
        module = importlib.import_module("cyclip.world")
    except ImportError as exc:
        raise RuntimeError(
            f"builtin data sources need cyclip.world, which failed to import: {exc}"
        ) from exc
    if not hasattr(module, "load_pairs"):
        raise RuntimeError(
            "builtin data sources need cyclip.world.load_pairs, which this installation lacks"
        )
    return module


def builtin_kind(source: str) -> str:
    """``"pairs"``, ``"retrieval"`` or ``"classification"``."""
    name, _ = parse_builtin(source)
    return world().task_kind(name)


def open_builtin(source: str, kind: str) -> Any:
    """The world dataset of ``source`` (for classification, a (dataset, info) pair).

    Raises:
        ValueError: an unknown task, or a task of another kind (the world's message lists them).
    """
    name, options = parse_builtin(source)
    w = world()
    actual = w.task_kind(name)
    if actual != kind:
        same = [t for t in w.list_tasks() if w.task_kind(t) == kind]
        raise ValueError(
            f"{source} is a {actual} task, not {kind}; {kind} tasks: {', '.join(same)}"
        )
    loader = {
        "pairs": w.load_pairs,
        "retrieval": w.load_retrieval,
        "classification": w.load_classification,
    }
    return loader[kind](name, **options)


def builtin_fingerprint(source: str) -> str:
    """The world's own fingerprint of the task at these options."""
    name, options = parse_builtin(source)
    return world().fingerprint(name, options.get("size"), options.get("image_size", 64))
