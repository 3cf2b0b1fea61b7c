"""What stops a run early (runs of non-finite losses, too many bad samples, Ctrl-C / SIGTERM) and
what warns that it is not learning (the collapse alarm)."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import Any


class TrainingError(RuntimeError):
    """The run cannot go on; the message says why and what to change."""


class NonFiniteGuard:
    """Counts updates skipped for a non-finite loss or gradient; too many in a row stop the run.

    Args:
        max_in_row: consecutive skipped updates that stop the run (>= 1).
    """

    def __init__(self, max_in_row: int) -> None:
        if max_in_row < 1:
            raise ValueError(f"max_in_row must be >= 1, got {max_in_row}")
        self.max_in_row = max_in_row
        self.in_row = 0
        self.total = 0

    def update(
        self, updated: bool, *, step: int, losses: Mapping[str, float], precision: str
    ) -> None:
        """Record one step's outcome.

        Raises:
            TrainingError: on the ``max_in_row``-th non-finite step in a row, with the step, the
                batch's loss terms and advice.
        """
        if updated:
            self.in_row = 0
            return
        self.in_row += 1
        self.total += 1
        if self.in_row >= self.max_in_row:
            terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
            advice = "lower --optim.lr or raise --optim.warmup-steps, set --optim.grad-clip-norm"
            if precision == "fp16":
                advice += ", train in bf16 or fp32 (--optim.precision) instead of fp16"
            raise TrainingError(
                f"{self.in_row} non-finite steps in a row (last at step {step}: {terms}); "
                f"stopping. Try: {advice}; and check the data for corrupt images or empty "
                "captions."
            )

    def state_dict(self) -> dict[str, int]:
        return {"nonfinite_in_row": self.in_row, "nonfinite_total": self.total}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.in_row = int(state.get("nonfinite_in_row", 0))
        self.total = int(state.get("nonfinite_total", 0))


class CollapseAlarm:
    """Says once, in one line, when a run has collapsed: after warm-up, the contrastive loss stays
    at ln N (logits carry no information) while the image embeddings are near identical, for
    ``patience`` logged steps in a row. Learning cannot resume from there on its own.

    The usual cause is CyCLIP with ``normalization="paper"`` at a large batch: the cyclic terms
    weigh N times more than with "mean", and collapsing every embedding to one point zeroes them.

    Args:
        warmup_steps: steps before the alarm may sound (the learning rate is still rising).
        loss: the run's (resolved) loss configuration, for the advice.
        loss_ratio: "stays at ln N" means contrastive loss >= ``loss_ratio`` * ln N.
        cosine: "near identical" means mean pairwise cosine of the image embeddings >= this.
        patience: consecutive logged steps both must hold.
    """

    def __init__(
        self,
        warmup_steps: int,
        loss: Any,
        *,
        loss_ratio: float = 0.98,
        cosine: float = 0.99,
        patience: int = 3,
    ) -> None:
        self.warmup_steps = warmup_steps
        self.loss = loss
        self.loss_ratio, self.cosine, self.patience = loss_ratio, cosine, patience
        self.in_row = 0
        self.fired = False

    def update(self, step: int, batch_size: int, metrics: Mapping[str, Any]) -> str | None:
        """Check one logged step (``metrics`` with ``contrastive_loss``, ``image_mean_cosine``)
        of a global batch of ``batch_size`` pairs; returns the alarm line the first time."""
        contrastive = metrics.get("contrastive_loss")
        similarity = metrics.get("image_mean_cosine")
        if self.fired or step <= self.warmup_steps or batch_size < 2:
            return None
        if contrastive is None or similarity is None:
            return None
        stuck = contrastive >= self.loss_ratio * math.log(batch_size) and similarity >= self.cosine
        self.in_row = self.in_row + 1 if stuck else 0
        if self.in_row < self.patience:
            return None
        self.fired = True
        return (
            f"collapse alarm at step {step}: the contrastive loss has stayed at ln {batch_size} = "
            f"{math.log(batch_size):.3f} (now {contrastive:.3f}) and the image embeddings are "
            f"near identical (mean cosine {similarity:.3f}) for {self.in_row} logged steps after "
            f"warm-up: the model has stopped learning. {self._advice(batch_size)}"
        )

    def _advice(self, batch_size: int) -> str:
        loss = self.loss
        cyclic = (loss.lambda_inmodal or 0) > 0 or (loss.lambda_crossmodal or 0) > 0
        if cyclic and loss.normalization == "paper":
            return (
                f"Likely cause: --loss.normalization paper at batch {batch_size} (the cyclic "
                "terms outweigh the contrastive loss, and identical embeddings zero them); use "
                "--loss.normalization mean."
            )
        if cyclic:
            return (
                "Likely cause: cyclic terms too heavy for this run; lower --loss.lambda-inmodal "
                "and --loss.lambda-crossmodal, or --optim.lr."
            )
        return (
            "Likely cause: a learning rate too high for this model and batch; lower --optim.lr "
            "or raise --optim.warmup-steps, and check that the captions describe the images."
        )


class SkipMonitor:
    """Per-epoch accounting of samples the data layer dropped as unreadable.

    The run stops once the epoch's skip rate must exceed ``max_rate``: as soon as the skipped
    count alone exceeds ``max_rate`` times the epoch's expected size (no false alarm is possible
    then), and otherwise at the end of the epoch.

    Args:
        max_rate: largest tolerated fraction of skipped samples per epoch, in [0, 1].
        epoch_size: samples the epoch should hold (good + skipped), for the early stop.
        n_examples: how many skipped examples to keep for the message.
    """

    def __init__(self, max_rate: float, epoch_size: int, n_examples: int = 5) -> None:
        self.max_rate = max_rate
        self.epoch_size = epoch_size
        self.n_examples = n_examples
        self.seen = 0
        self.skipped = 0
        self.examples: list[str] = []

    def new_epoch(self) -> None:
        self.last_epoch = (self.seen, self.skipped, list(self.examples))
        self.seen = self.skipped = 0
        self.examples = []

    def no_batch_error(self, epoch: int) -> TrainingError:
        """The error for an epoch that ended without a single optimiser step (every sample
        unreadable, whatever ``max_rate`` tolerates): the run could only spin."""
        seen, skipped, examples = getattr(self, "last_epoch", (self.seen, self.skipped, []))
        shown = ", ".join(examples) if examples else "(no example names reported)"
        return TrainingError(
            f"no batch could be formed in epoch {epoch}: {skipped} of {seen} samples were "
            f"unreadable and skipped, e.g. {shown}. Fix the data (paths, image root) and rerun; "
            "--data.max-skip-rate cannot help when nothing is readable."
        )

    def record(self, n_good: int, n_skipped: int, examples: Sequence[str] = ()) -> None:
        """Add one batch (or one step, already summed over ranks)."""
        self.seen += n_good + n_skipped
        self.skipped += n_skipped
        room = self.n_examples - len(self.examples)
        if room > 0:
            self.examples.extend(list(examples)[:room])

    @property
    def rate(self) -> float:
        return self.skipped / self.seen if self.seen else 0.0

    def check(self, *, epoch: int, end_of_epoch: bool) -> None:
        """Raise :class:`TrainingError` when the epoch's skip rate exceeds (or must exceed) the
        limit."""
        certain = self.skipped > self.max_rate * self.epoch_size
        if not (certain or (end_of_epoch and self.rate > self.max_rate)):
            return
        shown = ", ".join(self.examples) if self.examples else "(no example names reported)"
        raise TrainingError(
            f"{self.skipped} of {self.seen} samples in epoch {epoch} were unreadable and skipped "
            f"({self.rate:.2%} > --data.max-skip-rate {self.max_rate:.2%}); e.g. {shown}. "
            "Fix or remove these files, or raise --data.max-skip-rate if the loss is acceptable."
        )

    def state_dict(self) -> dict[str, int]:
        return {"epoch_seen": self.seen, "epoch_skipped": self.skipped}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.seen = int(state.get("epoch_seen", 0))
        self.skipped = int(state.get("epoch_skipped", 0))


class StopRequested(Exception):
    """Raised by :class:`StopRequest` inside a data wait that has lasted too long."""


class StopRequest:
    """Turns SIGINT / SIGTERM into a flag the loop polls between steps (then checkpoints and
    exits); a second signal interrupts immediately.

    Use as a context manager; the previous handlers are restored on exit. Outside the main thread
    (where Python cannot install handlers) it is inert.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    WAIT_GRACE_S = 5.0
    """A signal arriving while the loop has waited this long for data interrupts the wait (a
    blocked read: a hung filesystem, a stuck pipe); shorter waits finish, so the step runs."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._waiting_since: float | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping now")
        self.signum = signum
        since = self._waiting_since
        if since is not None and time.monotonic() - since > self.WAIT_GRACE_S:
            raise StopRequested(signal.Signals(signum).name)

    @contextlib.contextmanager
    def waiting_for_data(self) -> Iterator[None]:
        """Mark a wait for the next batch: a signal after :data:`WAIT_GRACE_S` of it raises
        :class:`StopRequested` there instead of waiting for the read to return."""
        self._waiting_since = time.monotonic()
        try:
            yield
        finally:
            self._waiting_since = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()
