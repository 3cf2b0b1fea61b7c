"""Random access into local shards: retrieval sets read from tar files, and sample counts.

Streaming (:mod:`cyclip.data.shards`) suits training; evaluation needs a fixed order and any
number of workers, so retrieval shards are indexed once (member offsets from the tar headers) and
each image is then read with a seek.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset
from webdataset.tariterators import base_plus_ext

from cyclip.data.images import load_image
from cyclip.data.shards import REMOTE_PREFIXES, parse_keys

log = logging.getLogger(__name__)

CAPTIONS_JSON_KEY = "json"
"""Retrieval: a json member may carry ``{"captions": [...]}`` instead of a multi-line txt."""


class ShardRetrieval(Dataset):
    """Images with all their captions from local uncompressed shards, indexed for random access.

    Captions come from ``KEY.txt`` (one caption per line) or ``KEY.json`` (``{"captions": [...]}``
    or ``{"caption": "..."}``). Item: ``{"image": PIL RGB, "captions": list[str]}``. Samples with no
    image member or no caption are left out when indexing (logged).
    """

    def __init__(
        self, urls: list[str], img_key: str | None = None, caption_key: str | None = None
    ) -> None:
        img_keys, txt_key = parse_keys(img_key, caption_key)
        self.shards = [Path(u) for u in urls]
        locations: list[tuple[int, int, int]] = []  # (shard, offset, size) of each image member
        self.keys: list[str] = []
        self.captions: list[tuple[str, ...]] = []
        dropped = 0
        for s, shard in enumerate(self.shards):
            if str(shard).startswith(REMOTE_PREFIXES) or not shard.name.endswith(".tar"):
                raise ValueError(
                    f"retrieval from shards needs local uncompressed .tar files; got {shard}"
                )
            for key, members, texts in _index_tar(shard, img_keys, (txt_key, CAPTIONS_JSON_KEY)):
                image = next((members[k] for k in img_keys if k in members), None)
                captions = _captions_of(texts, txt_key)
                if image is None or not captions:
                    dropped += 1
                    continue
                locations.append((s, *image))
                self.keys.append(f"{shard}:{key}")
                self.captions.append(captions)
        if dropped:
            log.warning(
                "webdataset retrieval: left out %d samples without image or caption", dropped
            )
        self._locations = np.asarray(locations, dtype=np.int64).reshape(-1, 3)  # (N, 3)

    def __len__(self) -> int:
        return len(self.keys)

    def item_key(self, i: int) -> str:
        return self.keys[i]

    def __getitem__(self, i: int) -> dict:
        shard, offset, size = (int(v) for v in self._locations[i])
        with open(self.shards[shard], "rb") as f:
            f.seek(offset)
            data = f.read(size)
        return {"image": load_image(data, key=self.keys[i]), "captions": list(self.captions[i])}


def _captions_of(texts: dict[str, bytes], txt_key: str) -> tuple[str, ...]:
    lines: list[str] = []
    if txt_key in texts:
        lines = texts[txt_key].decode("utf-8", "replace").splitlines()
    elif CAPTIONS_JSON_KEY in texts:
        try:
            meta = json.loads(texts[CAPTIONS_JSON_KEY])
        except (json.JSONDecodeError, UnicodeDecodeError):
            meta = {}
        raw = meta.get("captions", meta.get("caption")) if isinstance(meta, dict) else None
        lines = [raw] if isinstance(raw, str) else [str(c) for c in raw or ()]
    return tuple(c for c in (" ".join(line.split()) for line in lines) if c)


def _index_tar(
    shard: Path, img_keys: tuple[str, ...], text_keys: tuple[str, ...]
) -> Iterator[tuple[str, dict[str, tuple[int, int]], dict[str, bytes]]]:
    """Yield (key, {image ext: (offset, size)}, {text ext: bytes}) per sample, in tar order."""
    samples: dict[str, tuple[dict, dict]] = {}
    with tarfile.open(shard, "r:") as tar:
        try:
            for member in tar:
                if not member.isreg():
                    continue
                key, ext = base_plus_ext(member.name)
                if key is None:
                    continue
                images, texts = samples.setdefault(key, ({}, {}))
                ext = ext.lower()
                if ext in img_keys:
                    images[ext] = (member.offset_data, member.size)
                elif ext in text_keys:
                    f = tar.extractfile(member)
                    if f is not None:
                        texts[ext] = f.read()
        except (tarfile.ReadError, EOFError, OSError) as exc:
            log.warning(
                "%s: truncated or corrupt tar, indexed %d samples before: %s",
                shard,
                len(samples),
                exc,
            )
    for key, (images, texts) in samples.items():
        yield key, images, texts


def count_shard_samples(urls: list[str]) -> int:
    """Samples in the shards, from ``sizes.json`` (open_clip), ``*_stats.json`` (img2dataset) or a scan.

    Raises:
        ValueError: a shard is remote and no size file gives its count.
    """
    total = 0
    sizes_cache: dict[Path, dict] = {}
    for url in urls:
        path = Path(url)
        sizes_file = path.parent / "sizes.json"
        if sizes_file not in sizes_cache:
            sizes_cache[sizes_file] = (
                json.loads(sizes_file.read_text()) if sizes_file.is_file() else {}
            )
        stats = path.with_name(path.name.split(".")[0] + "_stats.json")
        if path.name in sizes_cache[sizes_file]:
            total += int(sizes_cache[sizes_file][path.name])
        elif stats.is_file() and "successes" in (meta := json.loads(stats.read_text())):
            total += int(meta["successes"])
        elif url.startswith(REMOTE_PREFIXES):
            raise ValueError(
                f"cannot count the samples of remote shard {url}: pass --data.train-num-samples"
            )
        else:
            total += _count_tar_keys(path)
    return total


def _count_tar_keys(path: Path) -> int:
    keys = set()
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isreg():
                    key, _ = base_plus_ext(member.name)
                    if key is not None and not key.startswith("__"):
                        keys.add(key)
    except (tarfile.ReadError, EOFError, OSError) as exc:
        log.warning("%s: truncated or corrupt tar while counting samples: %s", path, exc)
    return len(keys)
