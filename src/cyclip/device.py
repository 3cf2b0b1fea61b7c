"""Which device a command runs on: the one place that resolves ``--device auto``."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cpu`` / ``cuda`` / ``cuda:N``
    are checked against what this machine has.

    Raises:
        ValueError: an unknown name, or CUDA asked for where there is none (the message says
            what to pass instead).
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not (name == "cuda" or name.startswith("cuda:")):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got '{name}'")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name}: CUDA is not available here; use cpu or auto")
    return name
