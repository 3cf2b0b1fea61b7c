"""Labelled image folders: ``ROOT/<class>/<image>`` and the official CyCLIP ``labels.csv`` layout.

ImageFolder: classes are the sub-folders in sorted order (as torchvision does, so labels agree),
named after the folder with underscores turned into spaces (ImageNet-1k WordNet-id folders get the
ImageNet class names); images are found recursively. An optional class file in ROOT
(``classes.json`` or ``classnames.json``, a list or a ``{folder: name}`` mapping, see
:mod:`cyclip.data.classnames`) overrides names, templates and superclasses. An *empty* class folder is kept as a class, with a warning: it still
defines a class for zero-shot prediction (a test split may lack a class, and dropping it would
shift every later label).

labels.csv: ``image,label`` columns (the label an integer index into the class list) with a
class-names file beside it, read as data.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from cyclip.data.classnames import (
    CLASSES_FILE_NAMES,
    build_info,
    explain_class_names,
    find_class_file,
    folder_classnames,
    read_class_file,
)
from cyclip.data.csv_source import IMAGE_COLUMNS, sniff_separator
from cyclip.data.images import load_image
from cyclip.data.packed import PackedStrings
from cyclip.types import ClassificationInfo

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
LABEL_COLUMNS = ("label", "labels", "class", "target")


class LabelledImages(Dataset):
    """Image files with integer labels: item ``{"image": PIL RGB, "label": int}``."""

    def __init__(self, paths: list[str], labels: np.ndarray) -> None:
        self.paths = PackedStrings(paths)
        self.labels = np.asarray(labels, dtype=np.int64)  # (N,)

    def __len__(self) -> int:
        return len(self.paths)

    def item_key(self, i: int) -> str:
        return self.paths[i]

    def __getitem__(self, i: int) -> dict:
        return {"image": load_image(self.paths[i]), "label": int(self.labels[i])}


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def is_image_folder(root: Path) -> bool:
    """True when some direct sub-folder of ``root`` holds image files."""
    for entry in os.scandir(root):
        if entry.is_dir() and not entry.name.startswith("."):
            with os.scandir(entry.path) as inner:
                if any(f.is_file() and _is_image(f.name) for f in inner):
                    return True
    return False


def scan_image_folder(root: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(class folder names, image paths, labels) of an ImageFolder tree, in a stable order."""
    folders = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not folders:
        raise ValueError(f"{root}: no class sub-folders; an ImageFolder is ROOT/<class>/<image>")
    paths: list[str] = []
    labels: list[int] = []
    for label, folder in enumerate(folders):
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root / folder):
            dirnames.sort()
            found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if _is_image(f))
        if not found:
            log.warning(
                "%s: class folder '%s' has no images; kept as class %d for zero-shot",
                root,
                folder,
                label,
            )
        paths.extend(found)
        labels.extend([label] * len(found))
    if not paths:
        raise ValueError(
            f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in any class folder"
        )
    return folders, paths, np.asarray(labels, dtype=np.int64)


def open_image_folder(
    root: Path,
    *,
    classnames: str | None = None,
    templates: str | None = None,
    superclasses: str | None = None,
) -> tuple[LabelledImages, ClassificationInfo]:
    """An ImageFolder tree as a classification dataset plus its :class:`ClassificationInfo`."""
    folders, paths, labels = scan_image_folder(root)
    defaults, imagenet = folder_classnames(folders)
    info = build_info(
        defaults,
        keys=folders,
        data_file=find_class_file(root),
        classnames=classnames,
        templates=templates,
        superclasses=superclasses,
    )
    explain_class_names(
        root, folders, info.classnames, imagenet=imagenet and info.classnames == defaults
    )
    return LabelledImages(paths, labels), info


def open_labels_csv(
    folder: Path,
    *,
    classnames: str | None = None,
    templates: str | None = None,
    superclasses: str | None = None,
) -> tuple[LabelledImages, ClassificationInfo]:
    """The official CyCLIP evaluation layout: ``labels.csv`` (``image,label``) + a class-names file.

    Raises:
        ValueError: no class-names file and no ``classnames`` override, a missing column, a label
            that is not an integer, or a label outside the class list.
    """
    labels_file = folder / "labels.csv"
    class_file = find_class_file(folder)
    names_file = class_file if class_file is not None else classnames
    if names_file is None:
        raise ValueError(
            f"{folder}: labels.csv needs a class-names file beside it (one of "
            f"{', '.join(CLASSES_FILE_NAMES)}) or the classnames option"
        )
    layer = read_class_file(names_file)
    names = layer.classnames
    if not names:
        raise ValueError(f"{names_file}: holds no class names ('classes': [...])")
    paths, labels = _read_labels(labels_file, len(names))
    info = build_info(
        names,
        keys=layer.keys(),
        data_file=class_file,
        classnames=classnames,
        templates=templates,
        superclasses=superclasses,
    )
    return LabelledImages(paths, labels), info


def _read_labels(path: Path, num_classes: int) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8", newline="") as f:
        first = f.readline()
        f.seek(0)
        reader = csv.reader(f, delimiter=sniff_separator(path, first))
        header = [h.strip() for h in next(reader, [])]
        img_col = next((header.index(c) for c in IMAGE_COLUMNS if c in header), None)
        label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
        if img_col is None or label_col is None:
            raise ValueError(
                f"{path}: needs an image column (one of {list(IMAGE_COLUMNS)}) and a label column "
                f"(one of {list(LABEL_COLUMNS)}); the columns present are {header}"
            )
        paths, labels = [], []
        for row in reader:
            if not row:
                continue
            value = row[label_col].strip() if label_col < len(row) else ""
            try:
                label = int(value)
            except ValueError:
                raise ValueError(
                    f"{path}:{reader.line_num}: label {value!r} is not an integer class index"
                ) from None
            if not 0 <= label < num_classes:
                raise ValueError(
                    f"{path}:{reader.line_num}: label {label} outside 0..{num_classes - 1}"
                )
            paths.append(os.path.join(path.parent, row[img_col].strip()))
            labels.append(label)
    return paths, np.asarray(labels, dtype=np.int64)
