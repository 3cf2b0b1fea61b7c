"""Write a builtin task to disk in ordinary formats other tools (and cyclip's readers) open.

- pairs, ``csv``: ``DIR/images/<id>.jpg`` and ``DIR/pairs.csv`` (columns ``filepath,title``,
  paths relative to the CSV's folder);
- pairs, ``webdataset``: ``DIR/shard-000000.tar``, ... in the img2dataset layout (``KEY.jpg`` +
  ``KEY.txt``), :data:`SHARD_SIZE` samples per shard;
- retrieval, ``csv``: ``DIR/images/<id>.jpg`` and ``DIR/captions.csv``, one row per
  (image, caption); ``webdataset``: ``KEY.jpg`` + ``KEY.json`` (``{"captions": [...]}``);
- classification, ``imagefolder``: ``DIR/<classname>/<id>.jpg`` with a folder for every class
  (empty for classes a split lacks, e.g. the held-out pairs in ``colour-shape/test``; torchvision
  needs ``ImageFolder(..., allow_empty=True)`` there), plus ``DIR/classes.json`` with classnames,
  templates and superclasses in sorted folder order, the label order of ImageFolder readers;
  ``webdataset``: ``KEY.jpg`` + ``KEY.cls`` (the world's label) and ``classes.json`` in the
  world's label order;
- compositional, ``csv``: ``DIR/images/<id>.jpg`` and ``DIR/compositional.csv`` (columns
  ``image,positive,negative,category``), the N-caption layout ``cyclip eval --task
  compositional`` reads (:mod:`cyclip.evaluation.compositional_sets`).

Every export also writes ``DIR/metadata.json`` (world version, task, fingerprint, count, format).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from cyclip.types import ClassificationInfo
from cyclip.world import load_classification, load_compositional, load_pairs, load_retrieval
from cyclip.world.datasets import WorldClassification, WorldDataset
from cyclip.world.sts import text_only_error
from cyclip.world.tasks import resolve

ExportFormat = Literal["auto", "csv", "imagefolder", "webdataset"]
FORMATS: dict[str, tuple[str, ...]] = {
    # kind: supported formats, the first being what "auto" picks
    "pairs": ("csv", "webdataset"),
    "retrieval": ("csv", "webdataset"),
    "classification": ("imagefolder", "webdataset"),
    "compositional": ("csv",),
}
JPEG_QUALITY = 95
SHARD_SIZE = 1000


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    task: str
    format: str
    count: int
    """Number of images written."""
    directory: str
    fingerprint: str


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _key(index: int) -> str:
    return f"{index:09d}"


def _load(name: str, limit: int | None, image_size: int) -> WorldDataset:
    spec = resolve(name)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of items, got {limit}")
    # A smaller size is a prefix of the full task, so a limit exports the task's first items.
    size = spec.size if limit is None else min(limit, spec.size)
    if spec.kind == "pairs":
        return load_pairs(name, size=size, image_size=image_size)
    if spec.kind == "retrieval":
        return load_retrieval(name, image_size=image_size, size=size)
    if spec.kind == "compositional":
        return load_compositional(name, image_size=image_size, size=size)
    dataset, _ = load_classification(name, image_size=image_size, size=size)
    return dataset


def _check_directory(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"export target {directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise ValueError(
            f"export directory {directory} is not empty; choose a new directory or pass "
            "overwrite=True (--overwrite) to write into it"
        )
    directory.mkdir(parents=True, exist_ok=True)


def _write_csv(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "title"])
        writer.writerows(rows)


def _export_compositional_csv(directory: Path, items: Iterator[dict[str, Any]]) -> None:
    (directory / "images").mkdir(exist_ok=True)
    with (directory / "compositional.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "positive", "negative", "category"])
        for index, item in enumerate(items):
            relative = f"images/{_key(index)}.jpg"
            item["image"].save(directory / relative, format="JPEG", quality=JPEG_QUALITY)
            writer.writerow([relative, item["positive"], *item["negatives"], item["category"]])


def _export_csv(dataset: WorldDataset, directory: Path, items: Iterator[dict[str, Any]]) -> None:
    if dataset.task.kind == "compositional":
        _export_compositional_csv(directory, items)
        return
    images = directory / "images"
    images.mkdir(exist_ok=True)
    rows: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        relative = f"images/{_key(index)}.jpg"
        item["image"].save(directory / relative, format="JPEG", quality=JPEG_QUALITY)
        captions = item["captions"] if "captions" in item else [item["caption"]]
        rows.extend((relative, caption) for caption in captions)
    csv_name = "pairs.csv" if dataset.task.kind == "pairs" else "captions.csv"
    _write_csv(directory / csv_name, rows)


def _classes_json(directory: Path, info: ClassificationInfo, order: list[int]) -> None:
    """Write ``classes.json`` listing the classes ``order`` (world labels) in that order."""
    payload = {
        "classnames": [info.classnames[k] for k in order],
        "templates": list(info.templates),
        "superclasses": None
        if info.superclasses is None
        else [info.superclasses[k] for k in order],
    }
    (directory / "classes.json").write_text(json.dumps(payload, indent=2) + "\n")


def _classification_info(dataset: WorldDataset) -> ClassificationInfo:
    if not isinstance(dataset, WorldClassification):
        raise TypeError(f"{dataset.task.name} is not a classification task")
    return dataset.info


def _export_imagefolder(
    dataset: WorldDataset, directory: Path, items: Iterator[dict[str, Any]]
) -> None:
    info = _classification_info(dataset)
    for name in info.classnames:
        if "/" in name or name.startswith(".") or not name.strip():
            raise ValueError(f"class name {name!r} cannot be a folder name")
    # ImageFolder readers (torchvision's, cyclip.data's) number classes by sorted folder name, and
    # a class without images in this split (the held-out pairs outside `novel`) is still a class
    # of the zero-shot problem: so every class gets a folder, and classes.json is in sorted order.
    order = sorted(range(len(info.classnames)), key=lambda k: info.classnames[k])
    _classes_json(directory, info, order)
    for name in info.classnames:
        (directory / name).mkdir(exist_ok=True)
    for index, item in enumerate(items):
        folder = directory / info.classnames[item["label"]]
        item["image"].save(folder / f"{_key(index)}.jpg", format="JPEG", quality=JPEG_QUALITY)


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # byte-identical shards for identical data
    tar.addfile(info, io.BytesIO(data))


def _sample_files(item: dict[str, Any]) -> list[tuple[str, bytes]]:
    files = [("jpg", _jpeg_bytes(item["image"]))]
    if "caption" in item:
        files.append(("txt", item["caption"].encode()))
    elif "captions" in item:
        files.append(("json", json.dumps({"captions": item["captions"]}).encode()))
    else:
        files.append(("cls", str(item["label"]).encode()))
    return files


def _export_webdataset(
    dataset: WorldDataset, directory: Path, items: Iterator[dict[str, Any]]
) -> None:
    if dataset.task.kind == "classification":
        # Shards carry the world's labels (KEY.cls), so classes.json keeps the world's order.
        info = _classification_info(dataset)
        _classes_json(directory, info, list(range(len(info.classnames))))
    numbered = enumerate(items)
    for shard in itertools.count():
        chunk = list(itertools.islice(numbered, SHARD_SIZE))
        if not chunk:
            break
        with tarfile.open(directory / f"shard-{shard:06d}.tar", "w") as tar:
            for index, item in chunk:
                for extension, data in _sample_files(item):
                    _tar_add(tar, f"{_key(index)}.{extension}", data)


def export_task(
    name: str,
    directory: str | Path,
    *,
    format: ExportFormat = "auto",
    limit: int | None = None,
    image_size: int = 64,
    overwrite: bool = False,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
) -> ExportSummary:
    """Render a builtin task and write it to ``directory`` (see the module docstring for layouts).

    Args:
        name: task name, e.g. ``shapes/pretrain`` or ``builtin:shapes/colour/test``.
        directory: output folder; created if missing, must be empty unless ``overwrite``.
        format: ``auto`` picks csv for pairs and retrieval, imagefolder for classification.
        limit: export only the first ``limit`` items.
        image_size: side of the square images in pixels.
        overwrite: allow a non-empty ``directory``.
        progress: optional wrapper ``(iterable, total) -> iterable`` (e.g. a tqdm bar).

    Returns:
        An :class:`ExportSummary`.
    """
    kind = resolve(name).kind
    if kind not in FORMATS:
        raise text_only_error(resolve(name).name)
    supported = FORMATS[kind]
    chosen = supported[0] if format == "auto" else format
    if chosen not in supported:
        raise ValueError(
            f"cannot export {kind} task {name!r} as {format!r}; use one of: {', '.join(supported)}"
        )
    dataset = _load(name, limit, image_size)
    out = Path(directory)
    _check_directory(out, overwrite)
    items: Iterable[dict[str, Any]] = (dataset[i] for i in range(len(dataset)))
    if progress is not None:
        items = progress(items, len(dataset))
    writer = {
        "csv": _export_csv,
        "imagefolder": _export_imagefolder,
        "webdataset": _export_webdataset,
    }[chosen]
    writer(dataset, out, iter(items))
    summary = ExportSummary(
        dataset.task.name, chosen, len(dataset), str(out), dataset.metadata["fingerprint"]
    )
    # The directory is left out: the export stays valid when moved.
    metadata = {**dataset.metadata, "format": summary.format, "count": summary.count}
    (out / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return summary
