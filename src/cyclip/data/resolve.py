"""From a source string to a dataset: layout detection and the ``open_*`` entry points.

A source is ``builtin:NAME``, a ``.csv``/``.tsv`` file, a shard pattern ending in ``.tar``, a COCO
folder or ``captions_*.json`` file, an ImageFolder root, a folder with ``labels.csv``, or a CIFAR
python folder. The layout is detected unless ``dataset_type`` names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset, IterableDataset

from cyclip.data import coco, shards
from cyclip.data.builtin import is_builtin, open_builtin
from cyclip.data.cifar import find_cifar, open_cifar
from cyclip.data.classnames import build_info
from cyclip.data.csv_source import CsvPairs, CsvRetrieval, read_csv_table
from cyclip.data.imagefolder import is_image_folder, open_image_folder, open_labels_csv
from cyclip.data.images import refuse_special_file
from cyclip.data.shard_index import ShardRetrieval
from cyclip.types import ClassificationInfo

DatasetType = Literal[
    "auto", "csv", "webdataset", "coco", "builtin", "imagefolder", "labels-csv", "cifar"
]
Purpose = Literal["pairs", "retrieval", "classification"]

PROVIDES: dict[str, tuple[str, ...]] = {
    "csv": ("pairs", "retrieval"),
    "webdataset": ("pairs", "retrieval"),
    "coco": ("pairs", "retrieval"),
    "builtin": ("pairs", "retrieval", "classification"),
    "imagefolder": ("classification",),
    "labels-csv": ("classification",),
    "cifar": ("classification",),
}
ACCEPTED_LAYOUTS = (
    "accepted sources: 'builtin:NAME'; a .csv/.tsv file of image paths and captions; webdataset "
    "shards ending in .tar (braces and '::' lists allowed); a COCO folder with "
    "annotations/captions_*.json, or such a JSON file; an ImageFolder ROOT/<class>/<image>; a "
    "folder with labels.csv and a class-names file; a CIFAR python folder (cifar-10-batches-py, "
    "cifar-100-python)"
)


def detect_type(source: str) -> str:
    """The layout of ``source`` (one of the keys of :data:`PROVIDES`).

    Raises:
        FileNotFoundError: the path does not exist (the message names it).
        ValueError: an unrecognised layout (the message lists the accepted ones).
    """
    if is_builtin(source):
        return "builtin"
    if shards.is_shard_spec(source):
        return "webdataset"
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data source not found: {source}")
    refuse_special_file(path)
    if path.is_file():
        if path.name == "labels.csv":
            return "labels-csv"
        if path.suffix.lower() in (".csv", ".tsv"):
            return "csv"
        if path.suffix.lower() == ".json":
            return "coco"
        if find_cifar(path):
            return "cifar"
    else:
        if coco.find_caption_files(path):
            return "coco"
        if (path / "labels.csv").is_file():
            return "labels-csv"
        if find_cifar(path):
            return "cifar"
        if is_image_folder(path):
            return "imagefolder"
    raise ValueError(f"{source}: unrecognised data layout; {ACCEPTED_LAYOUTS}")


def resolve_type(source: str, dataset_type: str, purpose: Purpose) -> str:
    """The layout to read ``source`` as, checked against what ``purpose`` needs."""
    kind = detect_type(source) if dataset_type == "auto" else dataset_type
    if kind not in PROVIDES:
        raise ValueError(
            f"unknown dataset_type {dataset_type!r}; use one of auto, {', '.join(PROVIDES)}"
        )
    if purpose not in PROVIDES[kind]:
        fitting = [k for k, p in PROVIDES.items() if purpose in p]
        raise ValueError(
            f"{source} is a {kind} source, which provides {' and '.join(PROVIDES[kind])} data, not "
            f"{purpose}; {purpose} sources are: {', '.join(fitting)}"
        )
    return kind


def open_pairs(
    source: str,
    *,
    img_key: str | None = None,
    caption_key: str | None = None,
    separator: str | None = None,
    dataset_type: DatasetType = "auto",
) -> Dataset | IterableDataset:
    """Image-caption pairs: items ``{"image": PIL RGB, "caption": str}``.

    Args:
        source: see the module docstring.
        img_key: CSV image-path column, or webdataset image extension(s) (``"jpg;png"``).
        caption_key: CSV caption column, or webdataset caption extension (``"txt"``).
        separator: CSV delimiter (default: sniffed).
        dataset_type: the layout, when detection should be bypassed.

    Returns:
        A map-style dataset (CSV, COCO: one item per caption, builtin) or, for webdataset shards,
        an iterable one streaming the shards in order (bad samples come as ``SkippedItem``).
    """
    kind = resolve_type(source, dataset_type, "pairs")
    if kind == "csv":
        return CsvPairs(
            read_csv_table(source, img_key=img_key, caption_key=caption_key, separator=separator)
        )
    if kind == "webdataset":
        urls = shards.expand_shards(source)
        img_keys, txt_key = shards.parse_keys(img_key, caption_key)
        shards.check_shard_keys(urls, img_keys, txt_key)
        return shards.WebDatasetPairs(urls, img_key, caption_key)
    if kind == "coco":
        return coco.CocoPairs(coco.read_coco(coco.choose_caption_file(_existing(source), "pairs")))
    return open_builtin(source, "pairs")


def open_retrieval(
    source: str,
    *,
    img_key: str | None = None,
    caption_key: str | None = None,
    separator: str | None = None,
    dataset_type: DatasetType = "auto",
) -> Dataset:
    """Images with all their captions: items ``{"image": PIL RGB, "captions": list[str]}``.

    CSV rows sharing an image path are grouped (order kept); COCO gives one item per image (a
    COCO root uses its ``val`` split); webdataset shards need ``KEY.txt`` with one caption per line
    or ``KEY.json`` with a ``captions`` list. Always map-style, in a fixed order.
    """
    kind = resolve_type(source, dataset_type, "retrieval")
    if kind == "csv":
        return CsvRetrieval(
            read_csv_table(source, img_key=img_key, caption_key=caption_key, separator=separator)
        )
    if kind == "webdataset":
        return ShardRetrieval(shards.expand_shards(source), img_key, caption_key)
    if kind == "coco":
        return coco.CocoRetrieval(
            coco.read_coco(coco.choose_caption_file(_existing(source), "retrieval"))
        )
    return open_builtin(source, "retrieval")


def open_classification(
    source: str,
    *,
    classnames: str | None = None,
    templates: str | None = None,
    superclasses: str | None = None,
    split: Literal["train", "test"] | None = None,
    dataset_type: DatasetType = "auto",
) -> tuple[Dataset, ClassificationInfo]:
    """A labelled image set (items ``{"image": PIL RGB, "label": int}``) and its class info.

    Args:
        source: an ImageFolder root, a ``labels.csv`` folder, a CIFAR folder or batch file, or
            ``builtin:NAME``.
        classnames: a JSON/YAML/CSV file overriding the class names (one per class, label order);
            an object form may also carry templates and superclasses.
        templates: a JSON/YAML/TXT file of prompt templates with ``{c}``; default: OpenAI's 80
            ImageNet templates.
        superclasses: a JSON/YAML file with a superclass per class (list or mapping).
        split: CIFAR only: ``"train"`` or ``"test"`` (default ``"test"``).
        dataset_type: the layout, when detection should be bypassed.
    """
    kind = resolve_type(source, dataset_type, "classification")
    overrides: dict[str, Any] = {
        "classnames": classnames,
        "templates": templates,
        "superclasses": superclasses,
    }
    if split is not None and kind != "cifar":
        raise ValueError(
            f"split= applies to CIFAR sources only; for {kind}, point at the split's folder"
        )
    if kind == "imagefolder":
        return open_image_folder(_existing(source), **overrides)
    if kind == "labels-csv":
        path = _existing(source)
        return open_labels_csv(path.parent if path.is_file() else path, **overrides)
    if kind == "cifar":
        return open_cifar(_existing(source), split=split, **overrides)
    dataset, info = open_builtin(source, "classification")
    if any(v is not None for v in overrides.values()):
        info = build_info(
            info.classnames,
            default_templates=info.templates,
            default_superclasses=info.superclasses,
            **overrides,
        )
    return dataset, info


def _existing(source: str) -> Path:
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data source not found: {source}")
    refuse_special_file(path)
    return path
