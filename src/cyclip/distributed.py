"""All of cyclip's distributed code: process-group set-up and autograd-aware collectives.

Every function works without a process group (single process), so the same code path runs on a
laptop and on a cluster.

Gradient semantics. Every rank computes the *same* global loss (over the union of all ranks'
batches). The backward of :func:`gather` and :func:`all_reduce_sum` sums the incoming gradients
over ranks, so the gradient that reaches a rank's local features is ``world_size`` times the
single-process gradient of the global loss; DDP's gradient averaging divides by ``world_size``
again. The parameter gradients therefore equal those of one process on the concatenated batch
(tested in ``tests/test_distributed.py``). The official CyCLIP code gathers without gradients and
swaps the local slice back in, which instead scales the gradient by ``1 / world_size``.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a process group is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    """Rank within the node, from torchrun's or SLURM's environment (0 otherwise)."""
    for key in ("LOCAL_RANK", "SLURM_LOCALID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def is_main_process() -> bool:
    """True on the process that writes files and logs."""
    return rank() == 0


class _Gather(torch.autograd.Function):
    """All-gather whose backward returns this rank's slice of the summed gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world_size())]
        dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
        sizes_list = [int(s.item()) for s in sizes]
        ctx.sizes = sizes_list
        ctx.rank = rank()
        max_n = max(sizes_list)
        # all_gather needs equal shapes: pad to the largest local batch, then trim.
        padded = x.new_zeros((max_n, *x.shape[1:]))
        padded[: x.shape[0]] = x
        out = [torch.empty_like(padded) for _ in sizes_list]
        dist.all_gather(out, padded.contiguous())
        return torch.cat([o[:n] for o, n in zip(out, sizes_list)], dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]]


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the adjoint of a sum-then-broadcast is again a sum over ranks."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = x.contiguous().clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (n_r, ...) from every rank along dim 0, keeping gradients.

    Local batches may differ in size (the data layer drops bad samples). Returns ``x`` itself
    without a process group.
    """
    if not is_distributed():
        return x
    return _Gather.apply(x)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over ranks, keeping gradients. Returns ``x`` itself without a process group."""
    if not is_distributed():
        return x
    return _AllReduceSum.apply(x)


def all_reduce_mean_(x: torch.Tensor) -> torch.Tensor:
    """In-place mean over ranks of a tensor that needs no gradient (metrics, counters)."""
    if is_distributed():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x /= world_size()
    return x


def all_reduce_sum_(x: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks of a tensor that needs no gradient (counters)."""
    if is_distributed():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def broadcast_object(obj: object, src: int = 0) -> object:
    """Send a picklable Python object from ``src`` to every rank (identity without a group)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if is_distributed():
        dist.barrier()


class WaitTimeout(RuntimeError):
    """A rank waited longer than allowed for the main process (see :func:`wait_for_main`)."""


def new_wait_group(timeout_s: float) -> object | None:
    """A gloo group with its own timeout, for ranks that wait while the main process works
    alone for long (periodic evaluation). A collective: every rank calls it, in the same order.

    The default group's timeout (:func:`init_distributed`) bounds every training collective and
    should stay short enough to catch a hung rank; the wait needs a longer one. The group is
    CPU-side (gloo) even when training uses NCCL, so no NCCL watchdog runs while ranks wait.
    ``None`` without a process group.
    """
    if not is_distributed():
        return None
    return dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=timeout_s))


def wait_for_main(obj: object, group: object | None, *, timeout_s: float, what: str) -> object:
    """Every rank blocks until the main process sends ``obj``; returns the main process's object.

    ``group`` comes from :func:`new_wait_group` (``timeout_s`` is its timeout, for the message).

    Raises:
        WaitTimeout: this rank waited ``timeout_s`` seconds for ``what`` without an answer.
    """
    if not is_distributed():
        return obj
    box = [obj]
    try:
        dist.broadcast_object_list(box, src=0, group=group)
    except RuntimeError as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WaitTimeout(
            f"rank {rank()} waited more than {timeout_s:g} s for {what} on the main process "
            f"({cause}); if the main process is alive and only slow, raise the limit "
            "(--run.eval-timeout) or evaluate less"
        ) from exc
    return box[0]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def _slurm_to_torchrun_env() -> None:
    """Map SLURM's variables to torchrun's when launched by ``srun`` without torchrun."""
    if "RANK" in os.environ or "SLURM_PROCID" not in os.environ:
        return
    if int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    if "MASTER_ADDR" not in os.environ:  # checked before touching the environment
        raise RuntimeError(
            "launched by SLURM with several tasks but MASTER_ADDR is not set: export "
            "MASTER_ADDR=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n1) and "
            "MASTER_PORT in the batch script, or launch with torchrun"
        )
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")


def init_distributed(
    backend: str | None = None, device: str = "auto", timeout_s: float = 1800.0
) -> DistInfo:
    """Initialise the process group from torchrun (env://) or SLURM variables, if present.

    Without those variables this sets nothing up and returns rank 0 of 1. The backend defaults
    to NCCL when CUDA is used and gloo otherwise. ``device`` is "auto", "cpu" or "cuda".
    """
    _slurm_to_torchrun_env()
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    lr = local_rank()
    dev = torch.device(f"cuda:{lr}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    n = int(os.environ.get("WORLD_SIZE", "1"))
    if n > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend=backend or ("nccl" if use_cuda else "gloo"),
            init_method="env://",
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return DistInfo(rank=rank(), world_size=world_size(), local_rank=lr, device=dev)


def cleanup() -> None:
    """Destroy the process group if one exists."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
