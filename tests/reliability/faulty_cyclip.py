"""``python faulty_cyclip.py <cyclip args>``: the ``cyclip`` command with faults injected.

The faults are chosen by environment variables, so a test can launch a real ``cyclip train`` (or
``torchrun`` over this script) and break it at a precise point:

- ``FAULT_SLOW_SAVE=SECONDS``: checkpoint files are written in 16 chunks, sleeping between them,
  so that a kill lands mid-write (the partial ``.tmp-*`` file is visible meanwhile).
- ``FAULT_ENOSPC_AT_SAVE=N``: the N-th checkpoint write (1-based) fails half-way with
  ``OSError(ENOSPC)``, as on a full disk.
- ``FAULT_KILL_WORKER=N``: a DataLoader worker process kills itself (SIGKILL) when it opens its
  N-th image.
- ``FAULT_EXIT_WORKER=N``: the same, but with ``os._exit(3)``.
- ``FAULT_SLOW_IMAGE=N:SECONDS``: opening the N-th image in the main process blocks for
  SECONDS (a read stuck on a hung filesystem).
- ``FAULT_KILL_RANK=R:S``: the process of rank R kills itself (SIGKILL) before step S.

This file is a test helper, not part of the package.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
import time


def _install_slow_save(seconds: float) -> None:
    import torch

    real_save = torch.save

    def slow_save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            return real_save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        data = buf.getvalue()
        chunk = max(1, len(data) // 16)
        for i in range(0, len(data), chunk):
            f.write(data[i : i + chunk])
            f.flush()
            time.sleep(seconds / 16)
        return None

    torch.save = slow_save


def _install_enospc(nth: int) -> None:
    import torch

    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            f.write(b"\0" * 1024)  # some bytes reached the disk before it filled up
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    torch.save = failing_save


def _install_worker_death(nth: int, how: str) -> None:
    import torch.utils.data
    from PIL import Image

    real_open = Image.open
    calls = {"n": 0}

    def dying_open(*args, **kwargs):
        if torch.utils.data.get_worker_info() is not None:
            calls["n"] += 1
            if calls["n"] == nth:
                if how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                os._exit(3)
        return real_open(*args, **kwargs)

    Image.open = dying_open


def _install_slow_image(nth: int, seconds: float) -> None:
    from PIL import Image

    real_open = Image.open
    calls = {"n": 0}

    def stuck_open(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            time.sleep(seconds)
        return real_open(*args, **kwargs)

    Image.open = stuck_open


def _install_rank_death(rank: int, step: int) -> None:
    from cyclip import distributed as dist
    from cyclip.train import trainer

    real_step = trainer.Trainer._train_step

    def dying_step(self, micro):
        if dist.rank() == rank and self.progress.step + 1 == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_step(self, micro)

    trainer.Trainer._train_step = dying_step


def install_faults(env: dict[str, str]) -> None:
    if "FAULT_SLOW_SAVE" in env:
        _install_slow_save(float(env["FAULT_SLOW_SAVE"]))
    if "FAULT_ENOSPC_AT_SAVE" in env:
        _install_enospc(int(env["FAULT_ENOSPC_AT_SAVE"]))
    if "FAULT_KILL_WORKER" in env:
        _install_worker_death(int(env["FAULT_KILL_WORKER"]), "kill")
    if "FAULT_EXIT_WORKER" in env:
        _install_worker_death(int(env["FAULT_EXIT_WORKER"]), "exit")
    if "FAULT_SLOW_IMAGE" in env:
        nth, seconds = env["FAULT_SLOW_IMAGE"].split(":")
        _install_slow_image(int(nth), float(seconds))
    if "FAULT_KILL_RANK" in env:
        rank, step = env["FAULT_KILL_RANK"].split(":")
        _install_rank_death(int(rank), int(step))


if __name__ == "__main__":
    install_faults(dict(os.environ))
    from cyclip.cli import main

    sys.exit(main(sys.argv[1:]))
