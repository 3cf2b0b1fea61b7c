"""Class names, prompt templates and superclass maps, read as data (never executed).

Accepted files:

- JSON or YAML: a list of class names, a mapping ``{folder name: class name}``, or an object
  ``{"classes" | "classnames": [...] or {...}, "templates": [...], "superclasses": ...}``;
- CSV/TSV: one class per row; a header row (``class``, ``name``, ``wnid``...) is dropped; rows
  ``index,name`` with integer indices are ordered by index, rows ``key,name`` (``wnid,name``, say)
  map a folder name to its class name;
- TXT: one class name per line, or ``key name`` lines (``n01440764 tench``) that name every
  folder;
- the official CyCLIP ``classes.py``: parsed with :mod:`ast` (no import, no ``eval``), reading the
  literal lists ``classes = [...]`` and ``templates = [lambda s: f"...{s}...", ...]``; anything
  but a string literal or a one-argument f-string lambda is refused.

A mapping must name every class (matched by folder name, raw or with underscores as spaces);
a file that names no class (keys matching no folder, an empty list, no known key) is refused.
Folders named by ImageNet-1k WordNet ids get the ImageNet class names (:func:`imagenet_classnames`)
unless a file names them; folder names that look like ids with no names known get a warning.

Templates are format strings with a ``{c}`` placeholder. Superclasses may be a list parallel to the
class names, a mapping ``{class: superclass}``, or a mapping ``{superclass: [classes]}``.
"""

from __future__ import annotations

import ast
import csv
import functools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cyclip.types import ClassificationInfo

log = logging.getLogger(__name__)

CLASSES_FILE_NAMES = (
    "classes.json",
    "classes.yaml",
    "classes.yml",
    "classes.csv",
    "classes.tsv",
    "classes.txt",
    "classes.py",
    "classnames.json",
    "classnames.yaml",
    "classnames.yml",
    "classnames.csv",
    "classnames.tsv",
    "classnames.txt",
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
    "wnid",
    "synset",
    "id",
    "key",
    "folder",
}
_SECOND_COLUMN_NOT_NAMES = {"superclass", "superclasses", "coarse", "parent", "count", "index"}
_CLASS_KEYS = ("classes", "classnames", "class_names", "names")


_WNID = re.compile(r"n\d{8}")
_ID_LIKE = re.compile(
    r"(?i)(?:[a-z]{0,2}|class|label|cls|category|id|idx)[-_ ]?\d+|[0-9a-f]*\d[0-9a-f]*"
)


@functools.cache
def imagenet_classnames() -> dict[str, str]:
    """ImageNet-1k class names keyed by WordNet id, in class-index (sorted-wnid) order.

    The ids are the data file ``imagenet_wnids.txt`` shipped beside this module (from timm); the
    names are open_clip's ``IMAGENET_CLASSNAMES``, which follow the same index order.
    """
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    text = (Path(__file__).parent / "imagenet_wnids.txt").read_text(encoding="utf-8")
    wnids = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    if len(wnids) != len(IMAGENET_CLASSNAMES):  # a corrupted install, not user input
        raise RuntimeError(f"imagenet_wnids.txt has {len(wnids)} ids for 1000 ImageNet classes")
    return dict(zip(wnids, IMAGENET_CLASSNAMES))


def folder_classnames(folders: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """Default class names for class folders, and whether they are ImageNet names.

    Folders that are all ImageNet-1k WordNet ids get the ImageNet class names; others are
    prettified (underscores become spaces).
    """
    imagenet = imagenet_classnames()
    if folders and all(_WNID.fullmatch(f) and f in imagenet for f in folders):
        return tuple(imagenet[f] for f in folders), True
    return tuple(prettify(f) for f in folders), False


def explain_class_names(
    root: Path | str, folders: Sequence[str], names: Sequence[str], *, imagenet: bool
) -> None:
    """Say in one line that WordNet-id folders got ImageNet names (``imagenet``); otherwise warn
    loudly when the names are still the folder names and most look like ids (``n01440764``,
    ``0001``, ``class_3``): prompts such as "a photo of a n01440764." are meaningless."""
    if imagenet:
        log.warning(
            "note: %s: %d WordNet-id folders; using the ImageNet-1k class names for them "
            "(e.g. %s -> %r); pass --classnames FILE to name them otherwise",
            root,
            len(folders),
            folders[0],
            names[0],
        )
        return
    if tuple(names) != tuple(prettify(f) for f in folders):
        return  # named by a file
    ids = [n for n in names if _ID_LIKE.fullmatch(n.strip())]
    if names and 2 * len(ids) >= len(names):
        log.warning(
            "WARNING: %s: %d of %d class folder names look like ids (e.g. %r) and no class names "
            "are known, so the zero-shot prompts read 'a photo of a %s.' and accuracy will be "
            "near chance; give the real names with --classnames FILE (a list in label order, or "
            "a mapping {folder: name}) or a classnames.json in the data folder",
            root,
            len(ids),
            len(names),
            ids[0],
            ids[0],
        )


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
    """The names in file order (a mapping's values)."""
    templates: tuple[str, ...] | None = None
    superclasses: Any = None
    """Raw superclass data (list or mapping); resolve with :func:`resolve_superclasses`."""
    mapping: dict[str, str] | None = None
    """``{folder name: class name}`` when the file pairs keys with names."""
    ordered: bool = True
    """Whether ``classnames`` is meaningful in file order alone (False for a pure mapping)."""

    @property
    def empty(self) -> bool:
        return not self.classnames and self.templates is None and self.superclasses is None

    def keys(self) -> tuple[str, ...] | None:
        """The mapping's keys in file order (``None`` for a plain list)."""
        return None if self.mapping is None else tuple(self.mapping)


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
    if isinstance(data, _Rows):
        return data.class_file()
    if isinstance(data, list):
        return ClassFile(classnames=_strings(data, path, "class names"))
    if isinstance(data, dict):
        names_key = next((k for k in _CLASS_KEYS if k in data), None)
        if names_key is None and data and "templates" not in data and "superclasses" not in data:
            if all(isinstance(v, str) for v in data.values()):
                return _mapping_file(data)  # {folder name: class name}
        names = data[names_key] if names_key else None
        templates = data.get("templates")
        mapping = _mapping_file(names, path) if isinstance(names, dict) else None
        return ClassFile(
            classnames=mapping.classnames
            if mapping
            else _strings(names, path, "class names")
            if names is not None
            else None,
            templates=validate_templates(_strings(templates, path, "templates"), path)
            if templates is not None
            else None,
            superclasses=data.get("superclasses"),
            mapping=mapping.mapping if mapping else None,
            ordered=mapping is None,
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
    if isinstance(data, _Rows):
        data = [r[0] for r in data.rows]
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
    if isinstance(data, _Rows):
        data = [r[0] for r in data.rows]
    if isinstance(data, dict) and "superclasses" in data:
        data = data["superclasses"]
    return data


def validate_templates(templates: tuple[str, ...], source: Path | str) -> tuple[str, ...]:
    """``templates`` if every one has a ``{c}`` placeholder; otherwise a ``ValueError`` naming
    ``source``."""
    if not templates:
        raise ValueError(f"{source}: the template list is empty")
    bad = [t for t in templates if "{c}" not in t]
    if bad:
        raise ValueError(
            f"{source}: templates need a '{{c}}' placeholder for the class name, e.g. "
            f"'a photo of a {{c}}.'; these have none: {bad[:3]}"
        )
    return templates


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


def _mapping_file(data: dict, path: Path | None = None) -> ClassFile:
    if not all(isinstance(v, (str, int, float)) for v in data.values()):
        raise ValueError(f"{path}: a class-names mapping must map folder names to strings")
    mapping = {str(k).strip(): str(v).strip() for k, v in data.items()}
    return ClassFile(classnames=tuple(mapping.values()), mapping=mapping, ordered=False)


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


@dataclass(frozen=True)
class _Rows:
    """A CSV/TSV/TXT class file, read as rows of cells."""

    rows: list[list[str]]
    text: bool
    header: tuple[str, ...] = ()

    def class_file(self) -> ClassFile:
        rows = self.rows
        if len(self.header) >= 2 and self.header[1].lower() in _SECOND_COLUMN_NOT_NAMES:
            return ClassFile(classnames=tuple(r[0] for r in rows))  # name,superclass
        if self.text:
            # one name per line; "key name" lines also give a mapping, used when it names every
            # folder (a plain name such as "golden retriever" would otherwise split too)
            names = tuple(" ".join(r) for r in rows)
            pairs = [r for r in rows if len(r) >= 2]
            mapping = {r[0]: " ".join(r[1:]) for r in pairs} if len(pairs) == len(rows) else None
            return ClassFile(classnames=names, mapping=mapping or None)
        if rows and all(len(r) >= 2 and r[0].isdigit() for r in rows):
            return ClassFile(classnames=tuple(r[1] for r in sorted(rows, key=lambda r: int(r[0]))))
        if rows and all(len(r) >= 2 and r[1] for r in rows):
            return _mapping_file({r[0]: r[1] for r in rows})  # key,name
        return ClassFile(classnames=tuple(r[0] for r in rows))


def _read_rows(path: Path) -> _Rows:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    text = path.suffix.lower() == ".txt"
    with open(path, encoding="utf-8", newline="") as f:
        if text:
            rows = [line.split() for line in f]
        else:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f, delimiter=delimiter)]
    rows = [r for r in rows if r and r[0]]
    header: tuple[str, ...] = ()
    if rows and any(cell.lower() in _HEADER_WORDS for cell in rows[0][:2]) and not text:
        header, rows = tuple(rows[0]), rows[1:]
    elif rows and text and len(rows[0]) == 1 and rows[0][0].lower() in _HEADER_WORDS:
        rows = rows[1:]
    return _Rows(rows, text, header)


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
    keys: Sequence[str] | None = None,
) -> ClassificationInfo:
    """Combine what the data provides with the caller's overrides, later layers winning.

    Layers: the source's own names, templates (default: OpenAI's 80) and superclasses,
    a class file found in the data folder (``data_file``), then the caller's ``classnames``,
    ``templates`` and ``superclasses`` files. Class names in any layer must keep the class count;
    a mapping layer is matched by ``keys`` (the class folder names; default: the source's names).

    Raises:
        ValueError: a layer names no class, misses some, or has the wrong number of names.
    """
    names, names_source = default_classnames, "the data"
    keys = tuple(keys) if keys is not None else tuple(default_classnames)
    prompt_templates = (
        default_templates if default_templates is not None else openai_imagenet_templates()
    )
    super_data: Any = default_superclasses
    super_source: Path | str = "the data"
    for path in (data_file, classnames):
        if path is None:
            continue
        layer = read_class_file(path)
        if layer.empty:
            raise ValueError(
                f"{path}: no usable class names (expected a list of names, a mapping "
                f"{{folder: name}}, or an object with 'classes', 'templates', 'superclasses')"
            )
        mapped = _apply_mapping(layer, keys, path)
        if mapped is not None:
            names, names_source = mapped, str(path)
        elif layer.classnames is not None:
            if not layer.classnames:
                raise ValueError(f"{path}: no usable class names: the list is empty")
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


def _apply_mapping(layer: ClassFile, keys: tuple[str, ...], path: Path | str) -> tuple | None:
    """The class names a mapping layer gives for ``keys``; ``None`` to read it as a list.

    Raises:
        ValueError: a pure mapping that names some classes but not all, or none.
    """
    if layer.mapping is None:
        return None
    lookup = {prettify(k): v for k, v in layer.mapping.items()} | layer.mapping
    found = [lookup.get(k, lookup.get(prettify(k))) for k in keys]
    missing = [k for k, v in zip(keys, found) if v is None]
    if not missing:
        return tuple(str(v) for v in found)
    if layer.ordered:
        return None
    named = len(keys) - len(missing)
    if named == 0:
        raise ValueError(
            f"{path}: no usable class names: its keys ({_examples(list(layer.mapping))}) match "
            f"none of the {len(keys)} class folders ({_examples(keys)}); key the mapping by folder "
            "name, or give a list of names in label order"
        )
    raise ValueError(
        f"{path}: names {named} of the {len(keys)} classes; no name for {_examples(missing)}; "
        "give a name for every class folder"
    )


def _examples(items: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(repr(str(i)) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
