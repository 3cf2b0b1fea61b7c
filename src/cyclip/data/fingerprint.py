"""``fingerprint``: a stable id of the exact data a source names, for feature caches.

The id covers the images and their labels only: what the image features and a linear probe depend
on. Class names, templates and superclasses (the ``classnames`` / ``templates`` / ``superclasses``
options and the class-name files of a data folder) only change the text side, so changing them
keeps the id and the cached image features.

Builtin sources use the world's own fingerprint (version, task, size, image size, definition
digest). File sources hash the resolved path, size and modification time of their index files:
the CSV, the COCO JSON, each shard, ``labels.csv``, the CIFAR batches, every image of an
ImageFolder tree (with its class folder); plus the other options and any option naming an existing
file, so that editing any of them gives a new id. Content is not read: a file rewritten
with identical size within the file system's time resolution would keep its id.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cyclip.data import coco, shards
from cyclip.data.builtin import builtin_fingerprint
from cyclip.data.cifar import find_cifar
from cyclip.data.classnames import CLASSES_FILE_NAMES
from cyclip.data.resolve import detect_type

_VERSION = b"cyclip-data-fingerprint-v2"
NAMING_OPTIONS = frozenset({"classnames", "templates", "superclasses"})
"""Options that name classes without changing the images or labels; not part of the id."""


def fingerprint(source: str, **options: Any) -> str:
    """A hex id that changes when the data behind ``source`` (or the options) change.

    Args:
        source: any source accepted by :func:`cyclip.data.open_pairs` and friends.
        **options: the options the data is opened with (keys, separator, split, override files,
            ``dataset_type``...); ``None`` values are ignored.

    Raises:
        FileNotFoundError, ValueError: as for opening the source.
    """
    options = {k: v for k, v in options.items() if v is not None and k not in NAMING_OPTIONS}
    kind = options.get("dataset_type", "auto")
    kind = detect_type(source) if kind == "auto" else kind
    if kind == "builtin":
        base = builtin_fingerprint(source)
        return base if not options else f"{base}#{_digest([], options)[:16]}"
    return _digest(_files_of(source, kind), options)


def _digest(files: list[str], options: dict[str, Any]) -> str:
    h = hashlib.sha256(_VERSION)
    for entry in files:
        h.update(entry.encode("utf-8", "surrogateescape") + b"\0")
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    for value in options.values():
        if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
            h.update(_stat_entry(Path(value)).encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def _stat_entry(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _files_of(source: str, kind: str) -> list[str]:
    if kind == "webdataset":
        urls = shards.expand_shards(source)
        return [_stat_entry(Path(u)) if os.path.isfile(u) else u for u in urls]
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data source not found: {source}")
    if kind == "csv":
        return [_stat_entry(path)]
    if kind == "coco":
        files = [path] if path.is_file() else coco.find_caption_files(path)
        return [_stat_entry(f) for f in files]
    if kind == "labels-csv":
        folder = path.parent if path.is_file() else path
        return [_stat_entry(folder / "labels.csv")]
    if kind == "cifar":
        found = find_cifar(path)
        folder = found[1] if found else path
        return [_stat_entry(f) for f in sorted(folder.iterdir()) if f.is_file()]
    if kind == "imagefolder":
        return _tree_entries(path)
    raise ValueError(f"cannot fingerprint a {kind} source: {source}")


def _tree_entries(root: Path) -> list[str]:
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if dirpath == str(root) and name in CLASSES_FILE_NAMES:
                continue  # names the classes; the images and labels are unchanged
            full = os.path.join(dirpath, name)
            st = os.stat(full)
            entries.append(f"{os.path.relpath(full, root)}|{st.st_size}|{st.st_mtime_ns}")
    return [str(root.resolve()), *entries]
