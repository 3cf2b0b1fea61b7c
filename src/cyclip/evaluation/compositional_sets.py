"""Compositional benchmarks on disk or in the builtin world: images with true and false captions.

A data file (or every ``.json`` / ``.jsonl`` / ``.csv`` / ``.tsv`` file of a folder) holds one
record per item, in one of two layouts.

**N-caption items** (SugarCrepe, ARO's VG-Relation / VG-Attribution, CREPE, the builtin world's
export): an image, its true caption, one or more negatives, optionally a category::

    image        image path, relative to --images (default: the data file's folder);
                 also read from "filename", "image_path" or "file"
    positive     the true caption; also "caption" or "true_caption"
    negatives    a list of false captions (JSON), or one string in "negative",
                 "negative_caption" or "false_caption"; CSV: every column whose name starts
                 with "negative" (negative, negative_1, negative_2, ...); empty cells ignored
    category     optional; default: the data file's name without extension
    id           optional; default: the JSON key or the row number

JSON files are a list of records or an object ``{id: record}``, which is SugarCrepe's release
format (``{id: {filename, caption, negative_caption}}``, category = file name: ``add_att``,
``swap_obj``, ...); JSONL has one record per line.

**2x2 groups** (Winoground): ``image_0``, ``image_1``, ``caption_0``, ``caption_1`` (caption j is
true of image j; Winoground's ``examples.jsonl`` as released). An image name without an extension
is looked up as ``.png``, then ``.jpg``.

Items whose image file does not exist are counted and listed (never silently dropped); a set in
which no image exists is an error naming where it looked.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from cyclip.data.images import load_image

IMAGE_KEYS = ("image", "filename", "image_path", "file")
POSITIVE_KEYS = ("positive", "caption", "true_caption")
NEGATIVE_KEYS = ("negatives", "negative", "negative_caption", "false_caption")
GROUP_KEYS = ("image_0", "image_1", "caption_0", "caption_1")
SUFFIXES = (".json", ".jsonl", ".csv", ".tsv")
IMAGE_SUFFIXES = ("", ".png", ".jpg", ".jpeg")
MAX_EXAMPLES = 5
"""How many missing images a result lists."""


@dataclass(frozen=True)
class Item:
    """One image with its true caption first, then its negatives."""

    key: str
    image: int
    """Index into :attr:`CompositionalSet.images`."""
    captions: tuple[str, ...]
    """``(true caption, negative, ...)``."""
    category: str


@dataclass(frozen=True)
class Group:
    """A Winoground-style 2x2 group: caption j is true of image j."""

    key: str
    images: tuple[int, int]
    captions: tuple[str, str]


@dataclass
class CompositionalSet:
    """An opened compositional benchmark: the items whose image exists, and what was missing."""

    source: str
    name: str
    images: Dataset
    """Map-style dataset of ``{"image": PIL, "label": index}``, one entry per distinct image."""
    items: tuple[Item, ...] = ()
    groups: tuple[Group, ...] = ()
    fingerprint: str | None = None
    total: int = 0
    """Records read, with or without their image."""
    missing: int = 0
    """Records whose image file does not exist (not evaluated)."""
    missing_examples: list[str] = field(default_factory=list)
    image_root: str | None = None

    def texts(self) -> list[str]:
        """Every distinct caption, in first-use order (what the text tower embeds)."""
        seen: dict[str, None] = {}
        for item in self.items:
            seen.update(dict.fromkeys(item.captions))
        for group in self.groups:
            seen.update(dict.fromkeys(group.captions))
        return list(seen)

    def describe(self) -> dict:
        """The ``dataset`` block of a result file (without ``n``)."""
        out: dict[str, object] = {
            "source": self.source,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "total": self.total,
            "missing_images": self.missing,
        }
        if self.image_root is not None:
            out["images"] = self.image_root
        return out


class ImageFiles(Dataset):
    """Image files as classification items labelled by their index (for the eval loader)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": load_image(self.paths[index]), "label": index}

    def item_key(self, index: int) -> str:
        return str(self.paths[index])


def _first(record: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = record.get(key)
        if value not in (None, ""):
            return value
    return None


def _negatives(record: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in record.items():
        if not (key in NEGATIVE_KEYS or key.startswith("negative")) or value in (None, ""):
            continue
        found.extend(value if isinstance(value, list) else [value])
    return [str(n) for n in found if str(n).strip()]


def _records(path: Path) -> list[tuple[str, dict]]:
    """``(id, record)`` pairs of one data file."""
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".csv", ".tsv"):
        rows = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        return [(r.get("id") or str(n), dict(r)) for n, r in enumerate(rows)]
    try:
        if suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, Mapping):
        pairs = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        pairs = [
            (str(v.get("id", n)) if isinstance(v, Mapping) else str(n), v)
            for n, v in enumerate(data)
        ]
    else:
        raise ValueError(f"{path}: expected a list of records or an object {{id: record}}")
    bad = next((k for k, v in pairs if not isinstance(v, Mapping)), None)
    if bad is not None:
        raise ValueError(f"{path}: record {bad!r} is not an object")
    return pairs


def data_files(source: str | os.PathLike) -> list[Path]:
    """The data files of ``source``: the file itself, or a folder's files in name order."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise FileNotFoundError(
                f"{path}: no {'/'.join(SUFFIXES)} files in this folder (a compositional set is "
                "one file per category, e.g. SugarCrepe's add_att.json ...)"
            )
        return files
    if not path.is_file():
        raise FileNotFoundError(f"compositional data not found: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{path}: expected a {', '.join(SUFFIXES)} file")
    return [path]


class _Images:
    """Distinct image paths, numbered in first-use order; missing files are remembered."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: list[Path] = []
        self.index: dict[str, int | None] = {}

    def find(self, name: str) -> int | None:
        if name not in self.index:
            found = None
            for suffix in IMAGE_SUFFIXES if not Path(name).suffix else ("",):
                candidate = self.root / f"{name}{suffix}"
                if candidate.is_file():
                    found = len(self.paths)
                    self.paths.append(candidate)
                    break
            self.index[name] = found
        return self.index[name]


def _fingerprint(files: list[Path], paths: list[Path]) -> str:
    h = hashlib.blake2b(digest_size=12)
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    for p in paths:
        stat = p.stat()
        h.update(f"{p.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return f"compositional:{h.hexdigest()}"


def read_compositional(
    source: str | os.PathLike, images: str | os.PathLike | None = None
) -> CompositionalSet:
    """Open a compositional data file or folder (layouts in the module docstring).

    Args:
        source: a data file, or a folder of them (one per category, as SugarCrepe ships).
        images: the folder image names are relative to (default: the data file's folder).

    Raises:
        FileNotFoundError: no data, or not one image of the set exists.
        ValueError: a malformed file or record.
    """
    files = data_files(source)
    root = Path(images) if images is not None else None
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"--images {root}: not a folder")
    items: list[Item] = []
    groups: list[Group] = []
    total, missing = 0, 0
    examples: list[str] = []
    found = _Images(root or files[0].parent)
    for path in files:
        for key, record in _records(path):
            total += 1
            where = f"{path.name}:{key}"
            if all(record.get(k) not in (None, "") for k in GROUP_KEYS):
                names = (str(record["image_0"]), str(record["image_1"]))
                indices = [found.find(n) for n in names]
                if None in indices:
                    missing += 1
                    if len(examples) < MAX_EXAMPLES:
                        examples.append(f"{where}: {names[indices.index(None)]}")
                    continue
                captions = (str(record["caption_0"]), str(record["caption_1"]))
                groups.append(Group(where, (indices[0], indices[1]), captions))  # type: ignore[arg-type]
                continue
            image, positive = _first(record, IMAGE_KEYS), _first(record, POSITIVE_KEYS)
            negatives = _negatives(record)
            if image is None or positive is None or not negatives:
                raise ValueError(
                    f"{where}: a record needs an image ({'/'.join(IMAGE_KEYS)}), a true caption "
                    f"({'/'.join(POSITIVE_KEYS)}) and negatives ({'/'.join(NEGATIVE_KEYS)}); "
                    f"got fields {sorted(record)}"
                )
            index = found.find(str(image))
            if index is None:
                missing += 1
                if len(examples) < MAX_EXAMPLES:
                    examples.append(f"{where}: {image}")
                continue
            category = str(record.get("category") or path.stem)
            items.append(Item(where, index, (str(positive), *negatives), category))
    if not found.paths:
        where = str(root) if root is not None else "the data file's folder"
        raise FileNotFoundError(
            f"{source}: none of the {total} items' images exist under {where} "
            f"(e.g. {examples[0] if examples else '-'}); pass --images with the image folder "
            "(SugarCrepe: COCO val2017)"
        )
    path = Path(source)
    return CompositionalSet(
        source=str(source),
        name=path.name or path.resolve().name,
        images=ImageFiles(found.paths),
        items=tuple(items),
        groups=tuple(groups),
        fingerprint=_fingerprint(files, found.paths),
        total=total,
        missing=missing,
        missing_examples=examples,
        image_root=str(root) if root is not None else None,
    )


class _WorldImages(Dataset):
    """The images of a builtin compositional set, labelled by index."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "image": self.dataset.render_scene(self.dataset.describe_item(index).scene),
            "label": index,
        }


def builtin_compositional(source: str) -> CompositionalSet:
    """``builtin:shapes/compositional[?size=N&image_size=PX]`` as a :class:`CompositionalSet`."""
    from cyclip.data.builtin import parse_builtin
    from cyclip.world import load_compositional
    from cyclip.world.tasks import canonical_name

    name, options = parse_builtin(source)
    dataset = load_compositional(name, **options)
    items = []
    for i in range(len(dataset)):
        texts = dataset.texts(i)
        items.append(Item(str(i), i, (texts["positive"], *texts["negatives"]), texts["category"]))
    return CompositionalSet(
        source=source,
        name=canonical_name(name),
        images=_WorldImages(dataset),
        items=tuple(items),
        fingerprint=dataset.metadata["fingerprint"],
        total=len(items),
    )


def open_compositional(source: str, images: str | os.PathLike | None = None) -> CompositionalSet:
    """A builtin task or a data file / folder (see :func:`read_compositional`)."""
    from cyclip.data.builtin import is_builtin

    if is_builtin(source):
        if images is not None:
            raise ValueError(f"{source} renders its own images; drop --images")
        return builtin_compositional(source)
    return read_compositional(source, images)
