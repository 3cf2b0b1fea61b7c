"""Time limits of the data loaders: a read that does not return stops the run in one line naming
the item, instead of hanging it.

- **read** (``--data.read-timeout``, 60 s): how long one item may take to be read and decoded.
  Each read runs in a helper thread of the process doing it (the main process with 0 workers,
  else each DataLoader worker); the loader waits for it at most that long, then raises
  :class:`ReadTimeoutError` naming the file (or shard). The waiting thread needs nothing from
  the stuck one, so this also holds for a read stuck in the kernel (a dead network mount), which
  no signal interrupts; the stuck thread is left behind as a daemon. The item is not skipped:
  on a hung file system the next read would hang too.
- **worker** (``--data.worker-timeout``, 600 s): how long the main process waits for a batch
  from its DataLoader workers (PyTorch's ``timeout``), for a worker stuck outside a read (a
  deadlock, a stuck transform). :class:`LoaderTimeoutError` says which loader. Keep it above the
  read limit, so that a stuck read is named first.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from torch.utils.data import get_worker_info

T = TypeVar("T")

READ_TIMEOUT_S = 60.0
"""Default seconds one item may take to read and decode."""
WORKER_TIMEOUT_S = 600.0
"""Default seconds the main process waits for a batch from the DataLoader workers."""


class DataTimeoutError(TimeoutError):
    """A data loader waited longer than its limit; the message is one line saying what to do.

    Raised in a DataLoader worker, it reaches the main process as PyTorch re-raises it there:
    its type called with the formatted traceback, from which the constructor takes the line back.
    """

    def __init__(self, message: str) -> None:
        super().__init__(_original_line(message))


class ReadTimeoutError(DataTimeoutError):
    """Reading one item took longer than the read limit."""


class LoaderTimeoutError(DataTimeoutError):
    """No batch came from the DataLoader workers within the worker limit."""


def _original_line(message: str) -> str:
    # PyTorch's form: "Caught ReadTimeoutError in DataLoader worker process 0.\nOriginal
    # Traceback (most recent call last):\n  ...\ncyclip.data.timeouts.ReadTimeoutError: LINE"
    if not message.startswith("Caught "):
        return message
    return message.rstrip().splitlines()[-1].split(": ", 1)[-1]


@dataclass(frozen=True)
class LoaderTimeouts:
    """A loader's two limits (0 turns one off), and how the errors name the options."""

    read: float = READ_TIMEOUT_S
    """Seconds one item may take to be read and decoded."""
    worker: float = WORKER_TIMEOUT_S
    """Seconds to wait for a batch from the DataLoader workers (with workers only)."""
    flag_prefix: str = "--data."
    """The options' prefix in the messages: ``--data.`` (cyclip train), ``--`` (cyclip eval)."""

    def __post_init__(self) -> None:
        if self.read < 0 or self.worker < 0:
            raise ValueError(
                f"time limits must be >= 0 (0 = none), got read {self.read}, worker {self.worker}"
            )

    def read_error(self, item: str) -> ReadTimeoutError:
        flag = f"{self.flag_prefix}read-timeout"
        return ReadTimeoutError(
            f"reading {item} did not finish within {self.read:g} s ({flag}): the file system "
            f"holding it may be hung or very slow. Check it (a network mount?), or raise {flag} "
            "(0 = no limit)"
        )

    def worker_error(self, loader: str, workers: int) -> LoaderTimeoutError:
        flag = f"{self.flag_prefix}worker-timeout"
        return LoaderTimeoutError(
            f"the {loader} got no batch from its {workers} worker process(es) within "
            f"{self.worker:g} s ({flag}): a worker is stuck (a read that does not return, or a "
            f"deadlock). Check the file system holding the data, rerun with "
            f"{self.flag_prefix}workers 0 to see where it stops, or raise {flag} (0 = no limit)"
        )

    def dataloader_timeout(self, workers: int) -> float:
        """The ``timeout`` argument of a ``torch.utils.data.DataLoader`` with ``workers``."""
        return self.worker if workers > 0 else 0.0

    def watch(self, batches: Iterator[T], loader: str, workers: int) -> Iterator[T]:
        """``batches`` (an iterator already made), PyTorch's worker time-out turned into a
        :class:`LoaderTimeoutError` naming ``loader`` (e.g. ``"training data loader"``)."""
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except RuntimeError as exc:
                if not str(exc).startswith("DataLoader timed out"):
                    raise
                raise self.worker_error(loader, workers) from None
            yield batch


TRAIN_TIMEOUTS = LoaderTimeouts()
"""The default limits, named as ``cyclip train``'s options."""
EVAL_TIMEOUTS = LoaderTimeouts(flag_prefix="--")
"""The default limits, named as ``cyclip eval``'s options."""


class TimedRead:
    """``read(item, fn, *args)``: ``fn(*args)`` run in this process's reader thread, waited for
    at most ``timeouts.read`` seconds, else :class:`ReadTimeoutError` naming ``item`` (a string,
    or a function giving it). Exceptions of ``fn`` reach the caller. One caller at a time.
    """

    def __init__(self, timeouts: LoaderTimeouts) -> None:
        self.timeouts = timeouts
        self._reader: _Reader | None = None

    def __getstate__(self) -> dict:  # a thread does not travel to a spawned worker
        return {**self.__dict__, "_reader": None}

    def __call__(self, item: str | Callable[[], str], fn: Callable[..., T], *args: Any) -> T:
        if self.timeouts.read <= 0:
            return fn(*args)
        reader, self._reader = self._reader, None  # a read that does not finish keeps it
        if reader is None or reader.pid != os.getpid():  # first read, or in a forked worker
            reader = _Reader()
        outcome = reader.run(fn, args, self.timeouts.read)
        if outcome is None:  # the stuck thread is left behind; the next read gets a new one
            name = item() if callable(item) else item
            worker = get_worker_info()
            where = f"{name} (in DataLoader worker {worker.id})" if worker else name
            raise self.timeouts.read_error(where) from None
        self._reader = reader
        ok, value = outcome
        if not ok:
            raise value
        return value

    def each(self, items: Iterable[T], where: Callable[[], str]) -> Iterator[T]:
        """``items``, each ``next()`` under the limit: for streams, which read as they are
        iterated; ``where()`` names the position."""
        iterator = iter(items)
        if self.timeouts.read <= 0:
            yield from iterator
            return
        while True:
            try:
                item = self(where, next, iterator)
            except StopIteration:
                return
            yield item


class _Reader:
    """A daemon thread running one function at a time; it ends when this object is dropped."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        weakref.finalize(self, self.jobs.put, None)
        threading.Thread(target=_serve, args=(self.jobs,), daemon=True, name="cyclip-read").start()

    def run(self, fn: Callable, args: tuple, seconds: float) -> tuple[bool, Any] | None:
        """``(True, result)`` or ``(False, exception)``; None when not done within ``seconds``."""
        done = threading.Lock()
        done.acquire()
        outcome: list = []
        self.jobs.put((fn, args, outcome, done))
        return outcome[0] if done.acquire(timeout=seconds) else None


def _serve(jobs: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        fn, args, outcome, done = job
        try:
            outcome.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.append((False, exc))
        done.release()
        del job, fn, args, outcome, done  # hold nothing of a finished read while idle
