"""Loader time limits: a read that does not return stops the loader with one line naming the item
(in the main process and in a DataLoader worker); a worker stuck elsewhere is PyTorch's worker
time-out, told as one line naming the loader. Every test is bounded: the stuck reads give up by
themselves after a few seconds, and the loaders run in a thread with a deadline."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from pathlib import Path

import pytest
from data_helpers import index_tokenizer, red_channel

from cyclip.data import DataConfig, build_eval_loader, build_train_loader, csv_source, open_pairs
from cyclip.data.timeouts import (
    READ_TIMEOUT_S,
    WORKER_TIMEOUT_S,
    LoaderTimeoutError,
    LoaderTimeouts,
    ReadTimeoutError,
)

STUCK_FOR_S = 2.0
"""How long a stuck read blocks before giving up by itself (far above the limits under test)."""


def _within(seconds: float, fn):
    """``fn()`` in a daemon thread: its result or exception, or a test failure after ``seconds``
    instead of a hang."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the loader was still running after {seconds} s (a hang)")
    if "error" not in box:
        return box["result"]
    error = box.pop("error")
    try:
        raise error
    finally:  # no reference cycle through this frame: the loader's workers end when it is dropped
        del error


def _message_of(error: type[Exception], fn) -> str:
    """The message of the ``error`` that ``fn()`` raises. Unlike ``pytest.raises``, it keeps no
    traceback (whose frames hold the loader), so dropping the loader ends its workers at once."""
    try:
        _within(20, fn)
    except error as exc:
        return str(exc)
    pytest.fail(f"no {error.__name__} raised")


@pytest.fixture
def stuck_image(monkeypatch, make_pairs_csv):
    """A CSV of 6 pairs whose 4th image (``images/00003.png``) blocks when loaded, as on a hung
    file system; returns (csv path, stuck path). The block ends by itself after STUCK_FOR_S (in a
    worker) or when the test ends (in this process)."""
    csv = make_pairs_csv(6)
    stuck = str(csv.parent / "images" / "00003.png")
    release = threading.Event()
    real_load = csv_source.load_image

    def load_image(path, key=None):
        if path == stuck:
            release.wait(STUCK_FOR_S)  # a forked worker's copy of the event is never set
        return real_load(path, key)

    monkeypatch.setattr(csv_source, "load_image", load_image)
    yield csv, stuck
    release.set()


def _train_loader(csv: Path, workers: int, **limits: float):
    cfg = DataConfig(train_data=str(csv), batch_size=2, workers=workers, val_data=None, **limits)
    loader = build_train_loader(cfg, red_channel, index_tokenizer)
    loader.set_epoch(0)
    return loader


@pytest.mark.parametrize("workers", [0, 1])
def test_a_read_that_does_not_return_stops_training_naming_the_file(stuck_image, workers):
    csv, stuck = stuck_image
    loader = _train_loader(csv, workers, read_timeout=0.5)
    start = time.monotonic()
    message = _message_of(ReadTimeoutError, lambda: list(loader))
    assert time.monotonic() - start < STUCK_FOR_S  # the limit, not the read, ended the wait
    assert stuck in message and "0.5 s" in message and "--data.read-timeout" in message
    assert "\n" not in message
    assert (f"{stuck} (in DataLoader worker 0) did not" in message) == (workers > 0)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_read_that_does_not_return_stops_evaluation_naming_the_file(stuck_image, workers):
    csv, stuck = stuck_image
    limits = LoaderTimeouts(read=0.5, flag_prefix="--")
    loader = build_eval_loader(open_pairs(str(csv)), red_channel, workers=workers, timeouts=limits)
    message = _message_of(ReadTimeoutError, lambda: list(loader))
    assert stuck in message and "0.5 s" in message and "--read-timeout" in message


def test_reads_under_the_limit_load_every_item(make_pairs_csv):
    """The limit only watches: with it on (the default), every item is read as before."""
    loader = _train_loader(make_pairs_csv(6), 0)
    batches = _within(20, lambda: list(loader))
    assert sorted(i for b in batches for i in b["texts"][:, 0].tolist()) == list(range(6))
    assert (DataConfig().read_timeout, DataConfig().worker_timeout) == (60.0, 600.0)


def test_a_stuck_shard_stream_names_the_shard(tmp_path, make_shards):
    """A shard read through a pipe that never delivers (``pipe:cat FIFO`` with no writer): the
    error names the shard; the test then lets the pipe end."""
    good = make_shards(1, 4)[0]
    fifo = tmp_path / "stuck.tar"  # a shard name, read through `cat`
    os.mkfifo(fifo)
    urls = f"{good}::pipe:cat {fifo}"
    cfg = DataConfig(
        train_data=urls, train_num_samples=8, batch_size=2, workers=0, val_data=None,
        read_timeout=0.5, shuffle_buffer=1,
    )  # fmt: skip
    loader = build_train_loader(cfg, red_channel, index_tokenizer)
    try:
        loader.set_epoch(0)  # 4 batches: more than the good shard holds, in either order
        with pytest.raises(ReadTimeoutError, match=rf"shard pipe:cat {fifo}.*0\.5 s"):
            _within(20, lambda: list(loader))
    finally:
        with contextlib.suppress(OSError):  # cat gets its writer, then EOF, and ends
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("kind", ["training", "evaluation"])
def test_a_hung_worker_is_one_line_naming_the_loader(stuck_image, kind):
    """The read limit off, the worker limit 0.5 s: PyTorch's time-out becomes one line saying
    which loader waited, how long, and what to do."""
    csv, _ = stuck_image
    if kind == "training":
        make = functools.partial(_train_loader, csv, 1, read_timeout=0, worker_timeout=0.5)
    else:
        limits = LoaderTimeouts(read=0, worker=0.5, flag_prefix="--")
        make = functools.partial(
            build_eval_loader, open_pairs(str(csv)), red_channel, workers=1, timeouts=limits
        )
    # Made and dropped in there: its worker ends (once its read gives up) within this test.
    message = _message_of(LoaderTimeoutError, lambda: list(make()))
    flag = "--data.worker-timeout" if kind == "training" else "--worker-timeout"
    assert kind in message and "0.5 s" in message and flag in message, message
    assert "\n" not in message
    assert (str(csv) in message) == (kind == "training")  # the training loader names its data


def test_limits_are_checked_and_are_flags():
    from cyclip.cli.eval import EvalArgs
    from cyclip.cli.train import parse_args
    from cyclip.evaluation.features import ExtractConfig

    with pytest.raises(ValueError, match="read_timeout"):
        DataConfig(read_timeout=-1)
    with pytest.raises(ValueError, match="worker_timeout"):
        DataConfig(worker_timeout=-1)
    cfg = parse_args(["--data.read-timeout", "5", "--data.worker-timeout", "0"])
    assert (cfg.data.read_timeout, cfg.data.worker_timeout) == (5.0, 0.0)
    eval_args = EvalArgs()  # its defaults are written out (cyclip eval --help imports no torch)
    assert (eval_args.read_timeout, eval_args.worker_timeout) == (READ_TIMEOUT_S, WORKER_TIMEOUT_S)
    assert ExtractConfig().timeouts == LoaderTimeouts(flag_prefix="--")
