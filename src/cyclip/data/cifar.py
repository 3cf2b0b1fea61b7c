"""CIFAR-10 / CIFAR-100 python pickle batches, read with a restricted unpickler.

The official files are pickles, and a pickle can run arbitrary code when loaded. They are read
with :class:`RestrictedUnpickler`, whose ``find_class`` resolves only what numpy array
reconstruction needs and refuses anything else, so a malicious file fails with an error
instead of executing.

Layouts: ``cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``, ``batches.meta``) and
``cifar-100-python/`` (``train``, ``test``, ``meta``; fine and coarse labels, the coarse label
becoming the superclass). The source may be that folder, its parent, or one batch file.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from cyclip.data.classnames import build_info, prettify
from cyclip.types import ClassificationInfo

_CIFAR10_DIR = "cifar-10-batches-py"
_CIFAR100_DIR = "cifar-100-python"
_SPLITS = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"train": ["train"], "test": ["test"]},
}
_META = {"cifar10": "batches.meta", "cifar100": "meta"}

# What a numpy array in a pickle refers to, by (module, name). numpy 2 moved numpy.core to
# numpy._core; files written by either version name either one.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numeric", "_frombuffer"),
    ("numpy", "ndarray"): (None, "ndarray"),
    ("numpy", "dtype"): (None, "dtype"),
    # Python 3 pickles bytes with protocol < 3 as _codecs.encode(str, "latin1"): a pure function.
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than plain data and numpy arrays."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only builtin containers, scalars and numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise UnsafePickleError(
                f"refusing to load {module}.{name} from a pickle: only numpy arrays and plain data "
                "are allowed in CIFAR batches (this file may be corrupt or malicious)"
            )
        where, attr = target
        if where == "_codecs":
            return getattr(importlib.import_module("_codecs"), attr)
        if where is None:
            return getattr(np, attr)
        core = "numpy._core" if hasattr(np, "_core") else "numpy.core"
        return getattr(importlib.import_module(f"{core}.{where}"), attr)


def load_pickle(path: str | Path) -> Any:
    """Load a pickle with :class:`RestrictedUnpickler`; byte-string dict keys become ``str``.

    Raises:
        UnsafePickleError: the file references anything but numpy arrays and plain data.
    """
    data = Path(path).read_bytes()
    # CIFAR was pickled by Python 2; latin1 is how numpy asks for Python 2 array payloads to be read.
    obj = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    if isinstance(obj, dict):
        obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    return obj


class CifarImages(Dataset):
    """CIFAR images as ``{"image": PIL RGB (32 x 32), "label": int}``."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray, key: str) -> None:
        self.pixels = pixels  # (N, 32, 32, 3) uint8
        self.labels = labels  # (N,) int64
        self.key = key

    def __len__(self) -> int:
        return len(self.labels)

    def item_key(self, i: int) -> str:
        return f"{self.key}[{i}]"

    def __getitem__(self, i: int) -> dict:
        return {"image": Image.fromarray(self.pixels[i]), "label": int(self.labels[i])}


def find_cifar(source: Path) -> tuple[str, Path, list[str] | None] | None:
    """(variant, folder, explicit batch files or None) when ``source`` is a CIFAR layout."""
    if source.is_file():
        folder = source.parent
        variant = _variant_of(folder)
        return (variant, folder, [source.name]) if variant else None
    for candidate in (source, source / _CIFAR10_DIR, source / _CIFAR100_DIR):
        variant = _variant_of(candidate)
        if variant:
            return variant, candidate, None
    return None


def _variant_of(folder: Path) -> str | None:
    if (folder / "batches.meta").is_file():
        return "cifar10"
    if (folder / "meta").is_file() and (
        (folder / "test").is_file() or (folder / "train").is_file()
    ):
        return "cifar100"
    return None


def open_cifar(
    source: Path,
    *,
    split: Literal["train", "test"] | None = None,
    classnames: str | None = None,
    templates: str | None = None,
    superclasses: str | None = None,
) -> tuple[CifarImages, ClassificationInfo]:
    """A CIFAR-10/100 split (``test`` by default) as a classification dataset.

    Raises:
        ValueError: ``source`` is not a CIFAR layout, or ``split`` is unknown.
        UnsafePickleError: a batch file holds anything but plain data and numpy arrays.
    """
    found = find_cifar(source)
    if found is None:
        raise ValueError(
            f"{source}: not a CIFAR python folder ({_CIFAR10_DIR}/ or {_CIFAR100_DIR}/)"
        )
    variant, folder, files = found
    if files is None:
        if split not in (None, "train", "test"):
            raise ValueError(f"unknown CIFAR split {split!r}; use 'train' or 'test'")
        files = _SPLITS[variant][split or "test"]
    missing = [f for f in (*files, _META[variant]) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: CIFAR files missing: {', '.join(missing)}")
    batches = [load_pickle(folder / f) for f in files]
    meta = load_pickle(folder / _META[variant])
    pixels = np.concatenate([_pixels(b) for b in batches])  # (N, 32, 32, 3)
    if variant == "cifar10":
        labels = np.concatenate([np.asarray(b["labels"], dtype=np.int64) for b in batches])
        names = tuple(prettify(_text(n)) for n in meta["label_names"])
        supers = None
    else:
        labels = np.concatenate([np.asarray(b["fine_labels"], dtype=np.int64) for b in batches])
        coarse = np.concatenate([np.asarray(b["coarse_labels"], dtype=np.int64) for b in batches])
        names = tuple(prettify(_text(n)) for n in meta["fine_label_names"])
        coarse_names = [prettify(_text(n)) for n in meta["coarse_label_names"]]
        supers = _superclasses(labels, coarse, coarse_names, len(names))
    key = f"{folder}/{'+'.join(files)}"
    info = build_info(
        names,
        default_superclasses=supers,
        classnames=classnames,
        templates=templates,
        superclasses=superclasses,
    )
    return CifarImages(pixels, labels, key), info


def _pixels(batch: dict) -> np.ndarray:
    data = np.asarray(batch["data"], dtype=np.uint8)  # (N, 3072), channel-major rows
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # (N, 32, 32, 3)


def _text(name: bytes | str) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


def _superclasses(
    fine: np.ndarray, coarse: np.ndarray, coarse_names: list[str], n: int
) -> tuple[str, ...] | None:
    """Superclass of each fine class, read off the (fine, coarse) label pairs of the split."""
    parent: dict[int, int] = {}
    for f, c in zip(fine.tolist(), coarse.tolist()):
        if parent.setdefault(f, c) != c:
            raise ValueError(
                f"CIFAR-100: fine class {f} appears under coarse classes {parent[f]} and {c}"
            )
    if len(parent) < n:
        return None  # a partial split cannot give the full map; the info then has no superclasses
    return tuple(coarse_names[parent[f]] for f in range(n))
