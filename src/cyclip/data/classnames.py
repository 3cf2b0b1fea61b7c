"""Class names, prompt templates and superclass maps, read as data (never executed).

Accepted files:

- JSON or YAML: a list of class names, or an object
  ``{"classes" | "classnames": [...], "templates": [...], "superclasses": ...}``;
- CSV/TSV/TXT: one class per row (first column; a header cell such as ``class`` or ``name`` is
  dropped; rows ``index,name`` with integer indices are ordered by index);
- the official CyCLIP ``classes.py``: parsed with :mod:`ast` (no import, no ``eval``), reading the
  literal lists ``classes = [...]`` and ``templates = [lambda s: f"...{s}...", ...]``; anything
  but a string literal or a one-argument f-string lambda is refused.

Templates are format strings with a ``{c}`` placeholder. Superclasses may be a list parallel to the
class names, a mapping ``{class: superclass}``, or a mapping ``{superclass: [classes]}``.
"""

from __future__ import annotations

import ast
import csv
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cyclip.types import ClassificationInfo

CLASSES_FILE_NAMES = (
    "classes.json",
    "classes.yaml",
    "classes.yml",
    "classes.csv",
    "classes.tsv",
    "classes.txt",
    "classes.py",
)
"""Class-name files looked for, in order, in a data folder."""

_HEADER_WORDS = {
    "class",
    "classes",
    "classname",
    "classnames",
    "class_name",
    "name",
    "names",
    "label",
}
_CLASS_KEYS = ("classes", "classnames", "class_names", "names")


@functools.cache
def openai_imagenet_templates() -> tuple[str, ...]:
    """The 80 OpenAI ImageNet prompt templates shipped with open_clip, as ``{c}`` format strings."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    # open_clip stores them as lambdas; calling one with the literal "{c}" gives its format string.
    return tuple(t("{c}") if callable(t) else str(t) for t in OPENAI_IMAGENET_TEMPLATES)


def prettify(name: str) -> str:
    """Folder or label name -> class name: underscores become spaces, whitespace collapsed."""
    return " ".join(name.replace("_", " ").split())


@dataclass(frozen=True)
class ClassFile:
    """What a class-names file provides; ``None`` for what it does not."""

    classnames: tuple[str, ...] | None = None
    templates: tuple[str, ...] | None = None
    superclasses: Any = None
    """Raw superclass data (list or mapping); resolve with :func:`resolve_superclasses`."""


def read_class_file(path: str | Path) -> ClassFile:
    """Read class names (and optionally templates and superclasses) from a data file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the format is not one of the accepted ones (the message says which are).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class-names file not found: {path}")
    data = _load(path)
    if isinstance(data, list):
        return ClassFile(classnames=_strings(data, path, "class names"))
    if isinstance(data, dict):
        names_key = next((k for k in _CLASS_KEYS if k in data), None)
        templates = data.get("templates")
        return ClassFile(
            classnames=_strings(data[names_key], path, "class names") if names_key else None,
            templates=validate_templates(_strings(templates, path, "templates"), path)
            if templates is not None
            else None,
            superclasses=data.get("superclasses"),
        )
    raise ValueError(
        f"{path}: expected a list of class names or an object with 'classes', 'templates', "
        f"'superclasses'; got {type(data).__name__}"
    )


def read_templates_file(path: str | Path) -> tuple[str, ...]:
    """Prompt templates from a JSON/YAML list (or object with ``templates``) or a TXT file, one per line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"templates file not found: {path}")
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        return validate_templates(tuple(line for line in lines if line), path)
    data = _load(path)
    if isinstance(data, dict):
        data = data.get("templates")
    if not isinstance(data, list):
        raise ValueError(
            f"{path}: expected a list of templates or an object with a 'templates' list"
        )
    return validate_templates(_strings(data, path, "templates"), path)


def read_superclasses_file(path: str | Path) -> Any:
    """Raw superclass data from a JSON/YAML file (a list, or an object, optionally under ``superclasses``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"superclasses file not found: {path}")
    data = _load(path)
    if isinstance(data, dict) and "superclasses" in data:
        data = data["superclasses"]
    return data


def validate_templates(templates: tuple[str, ...], source: Path | str) -> tuple[str, ...]:
    if not templates:
        raise ValueError(f"{source}: the template list is empty")
    bad = [t for t in templates if "{c}" not in t]
    if bad:
        raise ValueError(
            f"{source}: templates need a '{{c}}' placeholder for the class name, e.g. "
            f"'a photo of a {{c}}.'; these have none: {bad[:3]}"
        )
    unfillable = [t for t in templates if _fill_error(t)]
    if unfillable:
        raise ValueError(
            f"{source}: templates may use only the '{{c}}' placeholder (write '{{{{' and '}}}}' "
            f"for literal braces); these cannot be filled: {unfillable[:3]} "
            f"({_fill_error(unfillable[0])})"
        )
    return templates


def _fill_error(template: str) -> str | None:
    """Why ``template.format(c=...)`` fails (another placeholder, a bad brace), else None."""
    try:
        template.format(c="class name")
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def resolve_superclasses(
    data: Any, classnames: tuple[str, ...], source: Path | str
) -> tuple[str, ...]:
    """Turn raw superclass data into a tuple parallel to ``classnames``.

    Raises:
        ValueError: a list of the wrong length, or a mapping that misses some classes.
    """
    if isinstance(data, (list, tuple)):
        if len(data) != len(classnames):
            raise ValueError(f"{source}: {len(data)} superclasses for {len(classnames)} classes")
        return tuple(str(s) for s in data)
    if isinstance(data, dict):
        if all(isinstance(v, (list, tuple)) for v in data.values()):
            data = {
                str(member): str(parent) for parent, members in data.items() for member in members
            }
        mapping = {str(k): str(v) for k, v in data.items()}
        missing = [c for c in classnames if c not in mapping]
        if missing:
            raise ValueError(
                f"{source}: no superclass for {len(missing)} classes, e.g. {missing[:5]}"
            )
        return tuple(mapping[c] for c in classnames)
    raise ValueError(
        f"{source}: superclasses must be a list or a mapping, got {type(data).__name__}"
    )


def find_class_file(folder: Path) -> Path | None:
    """The first of :data:`CLASSES_FILE_NAMES` present in ``folder``."""
    return next((folder / n for n in CLASSES_FILE_NAMES if (folder / n).is_file()), None)


def _strings(value: Any, path: Path, what: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (str, int, float)) for v in value
    ):
        raise ValueError(f"{path}: {what} must be a list of strings")
    return tuple(str(v) for v in value)


def _load(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if suffix in (".yaml", ".yml"):
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_rows(path)
    if suffix == ".py":
        return _read_python_literals(path)
    raise ValueError(
        f"{path}: unsupported class-names format; use .json, .yaml/.yml, .csv/.tsv/.txt or .py"
    )


def _read_rows(path: Path) -> list[str]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".txt":
            rows = [[line.strip()] for line in f]
        else:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f, delimiter=delimiter)]
    rows = [r for r in rows if r and r[0]]
    if rows and rows[0][0].lower() in _HEADER_WORDS:
        rows = rows[1:]
    if rows and all(len(r) >= 2 and r[0].isdigit() for r in rows):
        return [r[1] for r in sorted(rows, key=lambda r: int(r[0]))]
    return [r[0] for r in rows]


def _read_python_literals(path: Path) -> dict[str, Any]:
    """Read ``classes``/``templates``/``superclasses`` assignments of a ``.py`` file as literals."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name = node.targets[0].id
            if name in ("classes", "classnames", "templates", "superclasses"):
                found[name] = _python_literal(node.value, path)
    if not found:
        raise ValueError(f"{path}: no literal 'classes = [...]' assignment found")
    return found


def _python_literal(node: ast.expr, path: Path) -> Any:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [
            _template_lambda(e, path) if isinstance(e, ast.Lambda) else _safe_literal(e, path)
            for e in node.elts
        ]
    return _safe_literal(node, path)


def _safe_literal(node: ast.expr, path: Path) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f"{path}:{node.lineno}: not a literal value; cyclip reads class files as data"
        ) from None


def _template_lambda(node: ast.Lambda, path: Path) -> str:
    """``lambda s: f"a photo of a {s}."`` -> ``"a photo of a {c}."``."""
    args = node.args.args
    body = node.body
    if len(args) != 1 or not isinstance(body, (ast.JoinedStr, ast.Constant)):
        raise ValueError(
            f"{path}:{node.lineno}: only one-argument f-string lambdas are read as templates"
        )
    if isinstance(body, ast.Constant):
        return str(body.value)
    parts = []
    for value in body.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif (
            isinstance(value, ast.FormattedValue)
            and isinstance(value.value, ast.Name)
            and value.value.id == args[0].arg
            and value.format_spec is None
            and value.conversion == -1
        ):
            parts.append("{c}")
        else:
            raise ValueError(
                f"{path}:{node.lineno}: template lambdas may only insert their argument"
            )
    return "".join(parts)


def build_info(
    default_classnames: tuple[str, ...],
    *,
    default_templates: tuple[str, ...] | None = None,
    default_superclasses: tuple[str, ...] | None = None,
    data_file: Path | None = None,
    classnames: str | Path | None = None,
    templates: str | Path | None = None,
    superclasses: str | Path | None = None,
) -> ClassificationInfo:
    """Combine what the data provides with the caller's overrides, later layers winning.

    Layers: the source's own names, templates (default: OpenAI's 80) and superclasses,
    a class file found in the data folder (``data_file``), then the caller's ``classnames``,
    ``templates`` and ``superclasses`` files. Class names in any layer must keep the class count.
    """
    names, names_source = default_classnames, "the data"
    prompt_templates = (
        default_templates if default_templates is not None else openai_imagenet_templates()
    )
    super_data: Any = default_superclasses
    super_source: Path | str = "the data"
    for path in (data_file, classnames):
        if path is None:
            continue
        layer = read_class_file(path)
        if layer.classnames is not None:
            if len(layer.classnames) != len(names):
                raise ValueError(
                    f"{path}: {len(layer.classnames)} class names, but {names_source} has "
                    f"{len(names)} classes; give one name per class, in label order"
                )
            names, names_source = layer.classnames, str(path)
        if layer.templates is not None:
            prompt_templates = layer.templates
        if layer.superclasses is not None:
            super_data, super_source = layer.superclasses, path
    if templates is not None:
        prompt_templates = read_templates_file(templates)
    if superclasses is not None:
        super_data, super_source = read_superclasses_file(superclasses), superclasses
    resolved = None if super_data is None else resolve_superclasses(super_data, names, super_source)
    return ClassificationInfo(tuple(names), tuple(prompt_templates), resolved)
