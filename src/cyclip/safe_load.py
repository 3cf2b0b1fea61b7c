"""Reading torch files safely: ``weights_only=True``, and errors that name what was refused.

torch's own error advises re-running with ``weights_only=False``, i.e. switching the protection
off. cyclip names the refused object instead and tells the user how to re-save the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


def describe_load_error(exc: BaseException, limit: int = 300) -> str:
    """One line for a failed ``torch.load``: the refused global if any, else the first line."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    lines = lines or ["no detail"]
    detail = next((line for line in lines if "GLOBAL" in line), lines[0])
    if detail.endswith(":") and len(lines) > 1:  # "Error(s) in loading state_dict for CLIP:"
        detail = f"{detail} {lines[lines.index(detail) + 1]}"
    return f"{type(exc).__name__}: {detail[:limit]}"


def _refused_by_weights_only(exc: BaseException) -> bool:
    """Whether ``torch.load`` read the file but refused an object in it (rather than failing to
    read it at all: a truncated zip, random bytes)."""
    return "Weights only load failed" in str(exc) or "GLOBAL" in str(exc)


def load_weights_only(path: str | os.PathLike, what: str = "checkpoint") -> object:
    """``torch.load(path, weights_only=True)`` on the CPU, with actionable errors.

    Raises:
        FileNotFoundError: naming the path.
        ValueError: the file is unreadable (truncated, not a torch file) or holds objects other
            than tensors and plain containers (a pickle that could run code is never executed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ...
        if not _refused_by_weights_only(exc):
            raise ValueError(
                f"{what} {path} is truncated or corrupt, or not a torch file "
                f"({describe_load_error(exc, limit=120)})"
            ) from exc
        raise ValueError(
            f"cannot read {what} {path} with weights_only=True ({describe_load_error(exc)}); "
            "cyclip loads only files of plain tensors and containers, which cannot run code: "
            "re-save it as a state_dict"
        ) from exc
