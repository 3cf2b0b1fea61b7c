"""COCO captions: ``annotations/captions_{train2017,val2017}.json`` plus the image folder.

Pairs are one item per caption (annotation order); retrieval is one item per image with all its
captions (order of the ``images`` list, captions in annotation order). Images are looked for in
``ROOT/<split>/`` (``train2017/``, ``val2017/``), ``ROOT/images/<split>/``, then beside the
annotations folder (``ROOT/``), where ROOT is the folder holding ``annotations/``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from torch.utils.data import Dataset

from cyclip.data.images import clean_caption, collapse_whitespace, load_image
from cyclip.data.packed import PackedStrings
from cyclip.types import BadSampleError

log = logging.getLogger(__name__)

_PREFERRED_SPLIT = {"pairs": "train", "retrieval": "val"}


def find_caption_files(root: Path) -> list[Path]:
    """The ``captions_*.json`` files of a COCO root (``ROOT/annotations/``), sorted."""
    return sorted((root / "annotations").glob("captions_*.json"))


def choose_caption_file(source: Path, purpose: Literal["pairs", "retrieval"]) -> Path:
    """The annotation file to read for ``source`` (a COCO root or a ``captions_*.json`` file).

    A root with several caption files gives ``captions_train*`` for pairs (training) and
    ``captions_val*`` for retrieval (evaluation); name the JSON file to choose another split.
    """
    if source.is_file():
        return source
    files = find_caption_files(source)
    if not files:
        raise ValueError(f"{source}: no annotations/captions_*.json; not a COCO captions folder")
    if len(files) == 1:
        return files[0]
    preferred = [
        f for f in files if f.stem.removeprefix("captions_").startswith(_PREFERRED_SPLIT[purpose])
    ]
    chosen = preferred[0] if preferred else files[0]
    log.info("COCO %s: using %s (pass the JSON file itself to pick another split)", purpose, chosen)
    return chosen


_PROBE_SIZE = 64


def _image_folder(annotation: Path, file_names: list[str]) -> Path:
    """The candidate folder holding the most of (up to 64, evenly spread) listed images, so that a
    few names pointing elsewhere cannot pick the wrong root."""
    split = annotation.stem.removeprefix("captions_")
    root = (
        annotation.parent.parent if annotation.parent.name == "annotations" else annotation.parent
    )
    candidates = [root / split, root / "images" / split, root, annotation.parent]
    stride = max(1, len(file_names) // _PROBE_SIZE)
    probe = file_names[::stride][:_PROBE_SIZE]
    scores = [sum((folder / name).is_file() for name in probe) for folder in candidates]
    best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    if scores[best]:
        return candidates[best]
    shown = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"{annotation}: cannot find its images (e.g. {probe[0]!r}); looked in {shown}. "
        f"Put the images in {root / split}."
    )


def _load_json(annotation: Path) -> object:
    try:
        with open(annotation, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{annotation}: not valid JSON (truncated or corrupt?): {exc}") from None


def _file_names(annotation: Path, images: object) -> list[str]:
    if not isinstance(images, list):
        raise ValueError(f"{annotation}: 'images' must be a list, got {type(images).__name__}")
    names = []
    for i, img in enumerate(images):
        name = img.get("file_name") if isinstance(img, dict) else None
        if not isinstance(name, str) or not name or "id" not in img:
            what = img.get("id", f"#{i}") if isinstance(img, dict) else f"#{i}"
            raise ValueError(
                f"{annotation}: image {what} has no 'file_name' string and 'id'; every entry of "
                "'images' needs both"
            )
        names.append(name)
    return names


@dataclass(frozen=True)
class CocoIndex:
    """A COCO captions file, parsed: images in file order with their captions."""

    annotation: Path
    folder: Path
    files: PackedStrings
    """Image path of each image, (N_img,)."""
    captions: list[tuple[str, ...]]
    """Captions of each image, whitespace-cleaned, empty ones dropped."""
    pair_image: np.ndarray
    """(N_captions,) int64: image index of each caption, in annotation order."""
    pair_caption: PackedStrings
    """(N_captions,): each caption, in annotation order (raw, cleaned when loaded)."""
    non_text: dict[int, str] = field(default_factory=dict)
    """Caption positions whose ``caption`` was not a string (its JSON type), skipped as bad."""


def read_coco(annotation: Path) -> CocoIndex:
    """Parse a ``captions_*.json`` file and locate its images.

    Raises:
        ValueError: the JSON lacks ``images`` or ``annotations`` (then it is not a COCO captions
            file), or an annotation refers to an unknown image id.
        FileNotFoundError: no image folder holds the listed images.
    """
    data = _load_json(annotation)
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        keys = list(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{annotation}: not a COCO captions file (need 'images' and 'annotations'; found {keys})"
        )
    file_names = _file_names(annotation, data["images"])
    if not file_names:
        raise ValueError(f"{annotation}: the 'images' list is empty")
    position = {img["id"]: i for i, img in enumerate(data["images"])}
    folder = _image_folder(annotation, file_names)

    per_image: list[list[str]] = [[] for _ in file_names]
    pair_image: list[int] = []
    pair_caption: list[str] = []
    non_text: dict[int, str] = {}
    for ann in data["annotations"]:
        if ann["image_id"] not in position:
            raise ValueError(
                f"{annotation}: annotation {ann.get('id')} refers to unknown image_id {ann['image_id']}"
            )
        i = position[ann["image_id"]]
        caption = ann.get("caption")
        if not isinstance(caption, str):  # a number or null is no caption: not "12345"/"None"
            non_text[len(pair_image)] = type(caption).__name__
            caption = ""
        pair_image.append(i)
        pair_caption.append(caption)
        cleaned = collapse_whitespace(caption)
        if cleaned:
            per_image[i].append(cleaned)
    files = PackedStrings(os.path.join(folder, name) for name in file_names)
    return CocoIndex(
        annotation,
        folder,
        files,
        [tuple(c) for c in per_image],
        np.asarray(pair_image, dtype=np.int64),
        PackedStrings(pair_caption),
        non_text,
    )


class CocoPairs(Dataset):
    """One item per caption: ``{"image": PIL RGB, "caption": str}``."""

    def __init__(self, index: CocoIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return len(self.index.pair_image)

    def item_key(self, i: int) -> str:
        return self.index.files[int(self.index.pair_image[i])]

    def __getitem__(self, i: int) -> dict:
        path = self.item_key(i)
        if i in self.index.non_text:
            raise BadSampleError(
                f"{path} (caption {i})", f"caption is not text but a JSON {self.index.non_text[i]}"
            )
        caption = clean_caption(self.index.pair_caption[i], key=f"{path} (caption {i})")
        return {"image": load_image(path), "caption": caption}


class CocoRetrieval(Dataset):
    """One item per image with all its captions: ``{"image": PIL RGB, "captions": list[str]}``.

    Images without any caption are left out (they cannot be retrieved by text).
    """

    def __init__(self, index: CocoIndex) -> None:
        self.index = index
        self._images = np.asarray([i for i, c in enumerate(index.captions) if c], dtype=np.int64)
        missing = len(index.captions) - len(self._images)
        if missing:
            log.warning("%s: %d images have no caption and are left out", index.annotation, missing)

    def __len__(self) -> int:
        return len(self._images)

    def item_key(self, i: int) -> str:
        return self.index.files[int(self._images[i])]

    def __getitem__(self, i: int) -> dict:
        j = int(self._images[i])
        return {"image": load_image(self.index.files[j]), "captions": list(self.index.captions[j])}
