"""Seeding, and capture / restore of every random number generator as checkpoint-safe data.

The states are stored as tensors and plain numbers only, so a checkpoint holding them loads with
``torch.load(weights_only=True)``. In a distributed run each rank's states are gathered to rank 0
(which writes the checkpoint) and each rank restores its own on resume.
"""

from __future__ import annotations

import hashlib
import random
import warnings
from typing import Any

import numpy as np
import torch

from cyclip import distributed as dist


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """This process's RNG states (python, numpy, torch CPU, CUDA) as tensors and numbers."""
    version, py_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python_version": int(version),
        "python": torch.tensor(py_state, dtype=torch.int64),  # (625,)
        "python_gauss": gauss,
        "numpy_kind": str(kind),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),  # (624,)
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(cached),
        "torch": torch.get_rng_state(),  # uint8 (5056,)
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py_state = tuple(int(v) for v in state["python"].tolist())
    random.setstate((state["python_version"], py_state, state["python_gauss"]))
    keys = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(
        (
            state["numpy_kind"],
            keys,
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8).cpu())


def _gather_rows(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(k,) on every rank -> (world_size, k) on every rank (NCCL needs the tensor on the GPU)."""
    return dist.gather(x.unsqueeze(0).to(device)).cpu()


def gather_rng_states(device: torch.device) -> list[dict[str, Any]]:
    """Every rank's :func:`capture_rng_state`, indexed by rank. A collective: call on all ranks.

    Tensors are gathered as int64 rows; scalar fields travel in one float64 row (exact for the
    values they hold: small integers and a float64 Gaussian).
    """
    local = capture_rng_state()
    tensor_keys = ["python", "numpy", "torch"] + (["cuda"] if "cuda" in local else [])
    gathered = {k: _gather_rows(local[k].to(torch.int64), device) for k in tensor_keys}
    gauss = local["python_gauss"]
    scalars = torch.tensor(
        [
            local["numpy_pos"],
            local["numpy_has_gauss"],
            local["numpy_gauss"],
            0.0 if gauss is None else 1.0,
            0.0 if gauss is None else gauss,
        ],
        dtype=torch.float64,
    )
    rows = _gather_rows(scalars, device)
    states = []
    for r in range(rows.shape[0]):
        s = dict(local)  # version and kind strings are the same on every rank
        for k in tensor_keys:
            s[k] = gathered[k][r]
        s["torch"] = s["torch"].to(torch.uint8)
        if "cuda" in s:
            s["cuda"] = s["cuda"].to(torch.uint8)
        pos, has_gauss, np_gauss, has_py_gauss, py_gauss = rows[r].tolist()
        s.update(
            numpy_pos=int(pos),
            numpy_has_gauss=int(has_gauss),
            numpy_gauss=float(np_gauss),
            python_gauss=float(py_gauss) if has_py_gauss else None,
        )
        states.append(s)
    return states


def restore_rank_rng_state(states: list[dict[str, Any]], *, seed: int, step: int) -> None:
    """Restore this rank's entry of :func:`gather_rng_states`.

    When the world size changed since the checkpoint there is no saved state for this rank:
    seed it from ``(seed, rank, step)`` instead and say that the continuation is not bit-exact.
    """
    rank, world = dist.rank(), dist.world_size()
    if len(states) == world:
        restore_rng_state(states[rank])
        return
    if rank == 0:
        warnings.warn(
            f"the checkpoint holds RNG states for {len(states)} process(es) but this run has "
            f"{world}; reseeding from (seed, rank, step), so augmentation randomness will not "
            "continue bit-exactly",
            stacklevel=2,
        )
    seed_everything(derive_seed(seed, rank, step))


def derive_seed(*parts: int) -> int:
    """A 60-bit seed from integers, stable across processes and Python versions (unlike
    ``hash`` of strings, which is salted per process)."""
    digest = hashlib.sha256(repr(tuple(int(p) for p in parts)).encode()).hexdigest()
    return int(digest[:15], 16)
