"""``SkipMonitor``: per-epoch accounting of bad items, and the stop rule of ``max_skip_rate``."""

from __future__ import annotations

from collections import deque


class TooManyBadSamplesError(RuntimeError):
    """More than ``max_skip_rate`` of an epoch's samples were unusable."""


class SkipMonitor:
    """Counts skipped and kept samples over an epoch from the batches' skip fields.

    Per batch, call ``update(batch, batch_len=len(batch["texts"]))``; :meth:`check` raises
    :class:`TooManyBadSamplesError` (with the latest examples) once the skipped fraction exceeds
    ``max_skip_rate``. Mid-epoch it waits for ``min_samples`` samples, so that one bad file early in
    an epoch does not stop a run; ``check(final=True)`` at the end of the epoch always applies.
    """

    def __init__(
        self, max_skip_rate: float, min_samples: int = 1000, keep_examples: int = 10
    ) -> None:
        self.max_skip_rate = max_skip_rate
        self.min_samples = min_samples
        self.examples: deque[str] = deque(maxlen=keep_examples)
        self.skipped = 0
        self.seen = 0

    def reset(self) -> None:
        """Start a new epoch."""
        self.skipped = self.seen = 0
        self.examples.clear()

    def update(self, batch: dict, batch_len: int) -> None:
        """Record a batch; ``batch_len`` is the number of samples it kept."""
        self.skipped += int(batch.get("n_skipped", 0))
        self.seen += batch_len + int(batch.get("n_skipped", 0))
        self.examples.extend(batch.get("skipped_examples", ()))

    @property
    def rate(self) -> float:
        return self.skipped / self.seen if self.seen else 0.0

    def check(self, final: bool = False) -> None:
        """Raise when the rate is over the limit (mid-epoch only after ``min_samples`` samples)."""
        if (final or self.seen >= self.min_samples) and self.rate > self.max_skip_rate:
            shown = "\n  ".join(self.examples)
            raise TooManyBadSamplesError(
                f"{self.skipped} of {self.seen} samples ({self.rate:.2%}) were unusable, more than "
                f"max_skip_rate = {self.max_skip_rate:.2%}. Fix or remove them, or raise "
                f"--data.max-skip-rate. Last examples:\n  {shown}"
            )
