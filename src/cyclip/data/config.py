"""``DataConfig``: everything the training input pipeline needs, as one frozen dataclass.

The trainer exposes each field as a CLI flag ``--data.<field>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cyclip.data.timeouts import READ_TIMEOUT_S, WORKER_TIMEOUT_S, LoaderTimeouts


@dataclass(frozen=True)
class DataConfig:
    """Training and validation data, batching and augmentation."""

    train_data: str = "builtin:shapes/pretrain"
    """Training pairs: ``builtin:NAME``, a CSV/TSV file, webdataset shards (``data/{00000..00099}.tar``,
    ``::``-separated lists), or a COCO folder / ``captions_*.json``."""
    val_data: str | None = "builtin:shapes/val"
    """Held-out pairs for validation (same kinds of source), evaluated at the end of the run and every --run.eval-every steps; None for none."""
    dataset_type: Literal["auto", "csv", "webdataset", "coco", "builtin"] = "auto"
    """Layout of the sources; ``auto`` detects it."""
    csv_img_key: str | None = None
    """CSV image-path column (default: image, filepath, ...), or webdataset image extensions
    (default ``jpg;jpeg;png;webp``)."""
    csv_caption_key: str | None = None
    """CSV caption column (default: caption, title, ...), or webdataset caption extension (``txt``)."""
    csv_separator: str | None = None
    """CSV delimiter; default: sniffed from the header line, then the extension (.tsv = tab)."""
    train_num_samples: int | None = None
    """Samples per epoch (all processes together). Required with ``resampled``; for plain shards the
    count comes from sizes.json / img2dataset stats / a scan when unset; for map-style sources it
    shortens epochs to a random subset of this size (a new one each epoch)."""
    resampled: bool = False
    """webdataset only: sample shards with replacement, an infinite stream cut into epochs of
    ``train_num_samples`` (each worker draws its own shards)."""
    batch_size: int = 256
    """Samples per batch per process (global batch = batch_size x processes). Batches can be
    smaller by the number of bad items dropped from them."""
    workers: int = 2
    """DataLoader worker processes per training process (0 = load in the main process)."""
    prefetch_factor: int = 2
    """Batches each worker prepares ahead."""
    read_timeout: float = READ_TIMEOUT_S
    """Seconds one image (or shard sample) may take to read and decode; a read that takes longer
    stops the run in one line naming the file (a hung file system). 0 = no limit."""
    worker_timeout: float = WORKER_TIMEOUT_S
    """With workers: seconds to wait for a batch from them before stopping the run (a stuck
    worker). Keep it above read_timeout. 0 = no limit."""
    shuffle_buffer: int = 2000
    """webdataset only: samples in each worker's shuffle buffer (shards are also shuffled per epoch)."""
    max_skip_rate: float = 0.01
    """The trainer stops when more than this fraction of an epoch's samples were bad."""
    inmodal_augment: bool = False
    """In-modal variant (docs/method.md §1.6): batches also carry ``images_aug`` (AutoAugment) and
    ``texts_aug`` (EDA), drawn fresh each time an item is loaded."""
    eda_rate: float = 0.1
    """EDA: fraction of a caption's words one operation touches."""
    sentence_data: str | None = None
    """NLI triplets for --loss.sentence-term supervised: a CSV with SimCSE's columns sent0,sent1,hard_neg (premise, entailment, contradiction)."""
    sentence_batch_size: int = 64
    """Triplets per batch per process for the supervised sentence term (one batch with every image-text batch)."""

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.workers >= 0, f"workers must be >= 0, got {self.workers}"),
            (
                self.prefetch_factor >= 1,
                f"prefetch_factor must be >= 1, got {self.prefetch_factor}",
            ),
            (self.read_timeout >= 0, f"read_timeout must be >= 0, got {self.read_timeout}"),
            (
                self.worker_timeout >= 0,
                f"worker_timeout must be >= 0, got {self.worker_timeout}",
            ),
            (self.shuffle_buffer >= 1, f"shuffle_buffer must be >= 1, got {self.shuffle_buffer}"),
            (
                0.0 <= self.max_skip_rate <= 1.0,
                f"max_skip_rate must be in [0, 1], got {self.max_skip_rate}",
            ),
            (0.0 < self.eda_rate <= 1.0, f"eda_rate must be in (0, 1], got {self.eda_rate}"),
            (
                self.sentence_batch_size >= 1,
                f"sentence_batch_size must be >= 1, got {self.sentence_batch_size}",
            ),
            (
                self.train_num_samples is None or self.train_num_samples >= 1,
                f"train_num_samples must be >= 1, got {self.train_num_samples}",
            ),
            (
                not self.resampled or self.train_num_samples is not None,
                "resampled shards are an infinite stream: set train_num_samples (samples per epoch)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"DataConfig: {message}")

    @property
    def timeouts(self) -> LoaderTimeouts:
        """The loaders' time limits, with the ``--data.`` options named in their errors."""
        return LoaderTimeouts(self.read_timeout, self.worker_timeout, "--data.")
