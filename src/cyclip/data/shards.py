"""webdataset tar shards as img2dataset writes them: ``KEY.jpg|png|webp`` + ``KEY.txt`` (+ json).

Shard lists are brace patterns (``data/{00000..00009}.tar``) and/or ``::``-separated lists, as in
open_clip. Streaming goes through webdataset's own pipeline stages; errors inside a shard
(truncated member, unreadable file) are handled by :class:`SkipCounter`, which records them so
that they are counted like any other bad item instead of stopping the run.

Bad samples: a sample lacking the image or the text member, with an undecodable image or an empty
or non-UTF-8 caption, is skipped and counted. If *no* sample has the expected members (a wrong
``--data.csv-img-key``, or shards of another layout), reading stops with an error naming the
member extensions that were found, instead of spinning through empty batches.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator

import webdataset as wds
from torch.utils.data import IterableDataset
from webdataset.tariterators import base_plus_ext

from cyclip.data.images import clean_caption, load_image
from cyclip.data.timeouts import TRAIN_TIMEOUTS, LoaderTimeouts, TimedRead
from cyclip.types import BadSampleError, SkippedItem

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
"""Image members looked for, in order, when no image key is given."""
TEXT_KEY = "txt"
"""Caption member when no caption key is given."""

# Samples without the expected members tolerated at the start of a worker's stream before
# concluding that the keys are wrong.
_KEY_PATIENCE = 512
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
REMOTE_PREFIXES = ("pipe:", "http://", "https://", "s3://", "gs://", "ais://", "hf://")


def expand_shards(spec: str) -> list[str]:
    """Expand a shard spec (braces, ``::`` lists) into URLs; local ones must exist.

    Raises:
        FileNotFoundError: some local shards do not exist (the message names them).
        ValueError: the spec expands to nothing.
    """
    urls = wds.shardlists.expand_urls(spec)
    if not urls:
        raise ValueError(f"shard spec {spec!r} expands to no file")
    missing = [u for u in urls if not u.startswith(REMOTE_PREFIXES) and not os.path.isfile(u)]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise FileNotFoundError(
            f"{len(missing)} of {len(urls)} shards of {spec!r} not found: {shown}"
        )
    return urls


def is_shard_spec(source: str) -> bool:
    """True for a ``.tar`` path or pattern (possibly with braces and ``::`` lists)."""
    try:
        urls = wds.shardlists.expand_urls(source)
    except (AssertionError, ValueError):  # webdataset asserts on an unset ${WDS_VAR}
        return False
    return bool(urls) and all(u.endswith(TAR_SUFFIXES) for u in urls)


def parse_keys(img_key: str | None, caption_key: str | None) -> tuple[tuple[str, ...], str]:
    """Member extensions for images (``"jpg;png"`` -> alternatives) and captions."""
    img_keys = (
        tuple(k.strip().lstrip(".").lower() for k in img_key.split(";"))
        if img_key
        else IMAGE_EXTENSIONS
    )
    return img_keys, (caption_key.lstrip(".").lower() if caption_key else TEXT_KEY)


class SkipCounter:
    """A webdataset exception handler that records the error and continues.

    Errors recorded here happen below the sample level (a truncated member, an unreadable shard);
    :func:`decode_pairs` turns them into :class:`SkippedItem` entries so the loaders count them.
    Each DataLoader worker owns its copy.
    """

    def __init__(self) -> None:
        self.pending: list[SkippedItem] = []
        self.total = 0

    def __call__(self, exn: BaseException) -> bool:
        if self.pending and self.pending[-1].reason == self._reason(exn):
            # webdataset hands the same read error to the handler from two stages; with no
            # sample in between it is one damaged sample, counted once.
            return True
        self.total += 1
        message = str(exn.args[0]) if exn.args else type(exn).__name__
        where = next(
            (a for a in exn.args[1:] if isinstance(a, str)), None
        )  # webdataset appends the URL
        if where is None:
            found = re.search(r"name='([^']+)'", message)
            where = found.group(1) if found else "shard"
        message = message.split(" @ <", 1)[0]  # webdataset appends the stream's repr
        self.pending.append(SkippedItem(where, f"{type(exn).__name__}: {message}"[:300]))
        if self.total <= 5:
            log.warning(
                "webdataset: skipping the rest of a damaged sample or shard in %s: %s",
                where,
                message[:300],
            )
        return True

    @staticmethod
    def _reason(exn: BaseException) -> str:
        message = str(exn.args[0]) if exn.args else type(exn).__name__
        return f"{type(exn).__name__}: {message.split(' @ <', 1)[0]}"[:300]

    def drain(self) -> list[SkippedItem]:
        pending, self.pending = self.pending, []
        return pending


def _extensions(sample: dict) -> list[str]:
    return sorted(k for k in sample if not k.startswith("__"))


def require_keys(
    samples: Iterable[dict], img_keys: tuple[str, ...], txt_key: str, patience: int = _KEY_PATIENCE
) -> Iterator[dict]:
    """Pass samples through; raise if none of the first ``patience`` has both members.

    Raises:
        ValueError: naming the member extensions found, when the stream holds no usable sample.
    """
    found: Counter[str] = Counter()
    usable = False
    streak = 0
    for sample in samples:
        if not usable:
            if any(k in sample for k in img_keys) and txt_key in sample:
                usable = True
            else:
                streak += 1
                found.update(_extensions(sample))
                if streak >= patience:
                    raise _no_keys_error(img_keys, txt_key, found, f"{streak} samples")
        yield sample
    if streak and not usable:
        raise _no_keys_error(img_keys, txt_key, found, f"{streak} samples")


def _no_keys_error(
    img_keys: tuple[str, ...], txt_key: str, found: Counter, scope: str
) -> ValueError:
    seen = ", ".join(f".{k} ({c})" for k, c in found.most_common(10)) or "none"
    return ValueError(
        f"webdataset: none of {scope} has an image member ({'/'.join('.' + k for k in img_keys)}) "
        f"and a caption member (.{txt_key}); member extensions found: {seen}. Set --data.csv-img-key "
        f"(e.g. 'jpg;png') and --data.csv-caption-key to the extensions your shards use."
    )


def sample_key(sample: dict) -> str:
    """``<shard url>:<sample key>``: how a webdataset sample is named in skip reports."""
    return f"{sample.get('__url__', '?')}:{sample.get('__key__', '?')}"


def sample_to_pair(sample: dict, img_keys: tuple[str, ...], txt_key: str) -> dict | SkippedItem:
    """Decode one webdataset sample into ``{"image", "caption", "key"}``, or a :class:`SkippedItem`."""
    key = sample_key(sample)
    img_ext = next((k for k in img_keys if k in sample), None)
    if img_ext is None:
        return SkippedItem(
            key, f"no image member (.{'/.'.join(img_keys)}); members: {_extensions(sample)}"
        )
    if txt_key not in sample:
        return SkippedItem(key, f"no caption member (.{txt_key}); members: {_extensions(sample)}")
    try:
        caption = clean_caption(sample[txt_key].decode("utf-8"), key=key)
        return {"image": load_image(sample[img_ext], key=key), "caption": caption, "key": key}
    except UnicodeDecodeError:
        return SkippedItem(key, "caption is not valid UTF-8")
    except BadSampleError as exc:
        return SkippedItem(exc.key, exc.reason)


def decode_pairs(
    samples: Iterable[dict], counter: SkipCounter, img_keys: tuple[str, ...], txt_key: str
) -> Iterator[dict | SkippedItem]:
    """Stage: samples -> decoded pairs, with the counter's pending errors interleaved as skips."""
    for sample in samples:
        yield from counter.drain()
        yield sample_to_pair(sample, img_keys, txt_key)
    yield from counter.drain()


class ShardPosition:
    """Where a stream of shards is (the shard being read, the last sample read from it), for
    the message of a read that does not return. Its two stages go before and after the reading."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.key: str | None = None

    def shards(self, urls: Iterable[dict]) -> Iterator[dict]:
        for entry in urls:
            self.url, self.key = entry["url"], None
            yield entry

    def samples(self, samples: Iterable[dict]) -> Iterator[dict]:
        for sample in samples:
            if sample.get("__url__") == self.url:  # not the last sample of the previous shard
                self.key = sample.get("__key__")
            yield sample

    def describe(self) -> str:
        if self.url is None:
            return "the shard list"
        return f"shard {self.url}, " + (f"after sample {self.key}" if self.key else "first sample")


def sample_stages(
    img_keys: tuple[str, ...], txt_key: str, counter: SkipCounter, read: TimedRead
) -> list:
    """Stages from shard URLs to raw samples, with error recording, each sample's read limited
    by ``read`` and the missing-keys check."""
    position = ShardPosition()
    return [
        position.shards,
        wds.tarfile_to_samples(handler=counter),
        position.samples,
        functools.partial(read.each, where=position.describe),
        functools.partial(require_keys, img_keys=img_keys, txt_key=txt_key),
    ]


class WebDatasetPairs(IterableDataset):
    """Stream of pairs from shards, in shard order: ``{"image", "caption"}`` or :class:`SkippedItem`.

    Split by DataLoader worker (each worker reads whole shards), not by rank: this is the
    evaluation view. Training uses :func:`cyclip.data.build_train_loader`, which also splits by
    rank, shuffles and resamples.
    """

    def __init__(
        self,
        urls: list[str],
        img_key: str | None = None,
        caption_key: str | None = None,
        timeouts: LoaderTimeouts = TRAIN_TIMEOUTS,
    ) -> None:
        super().__init__()
        self.urls = list(urls)
        self.img_keys, self.txt_key = parse_keys(img_key, caption_key)
        self.timeouts = timeouts

    def with_timeouts(self, timeouts: LoaderTimeouts) -> WebDatasetPairs:
        """This stream, its reads limited by ``timeouts`` (the loader's)."""
        limited = copy.copy(self)
        limited.timeouts = timeouts
        return limited

    def __iter__(self) -> Iterator[dict | SkippedItem]:
        counter = SkipCounter()
        pipeline = wds.DataPipeline(
            wds.SimpleShardList(self.urls),
            wds.split_by_worker,
            *sample_stages(self.img_keys, self.txt_key, counter, TimedRead(self.timeouts)),
            functools.partial(
                decode_pairs, counter=counter, img_keys=self.img_keys, txt_key=self.txt_key
            ),
        )
        for item in pipeline:
            yield (
                item
                if isinstance(item, SkippedItem)
                else {"image": item["image"], "caption": item["caption"]}
            )


def peek_extensions(url: str, max_members: int = 200) -> Counter[str] | None:
    """Member extensions among the first members of a local shard (``None`` for remote URLs)."""
    if url.startswith(REMOTE_PREFIXES):
        return None
    found: Counter[str] = Counter()
    try:
        with tarfile.open(url, "r:*") as tar:
            for i, member in enumerate(tar):
                if i >= max_members:
                    break
                _, ext = base_plus_ext(member.name)
                if member.isreg() and ext is not None:
                    found[ext.lower()] += 1
    except (tarfile.ReadError, EOFError, OSError):
        pass  # a damaged first shard is reported, and survived, when it is streamed
    return found


def check_shard_keys(urls: list[str], img_keys: tuple[str, ...], txt_key: str) -> None:
    """Fail fast, in the main process, when the first shard has no member with the expected keys."""
    found = peek_extensions(urls[0])
    if not found:
        return
    if not any(k in found for k in img_keys) or txt_key not in found:
        raise _no_keys_error(
            img_keys, txt_key, found, f"the first {sum(found.values())} members of {urls[0]}"
        )
