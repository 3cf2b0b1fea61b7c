"""cyclip.distributed: single-process behaviour and 2-process gloo parity of the objective.

The parity test is the contract of the whole distributed design: a 2-process run (DDP over a
small model, each rank holding half of the batch) must give the same loss and the same parameter
gradients as one process on the concatenated batch. The siglip objective is checked for each of
open_clip's exchanges (``dist_impl``), with 2 processes and with 3 (where ``bidir`` really
exchanges in both directions; with 2 it is ``shift``; marked slow), and with unequal local batches.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from cyclip import distributed as dist
from cyclip.losses import SIGLIP_DIST_IMPLS, CyCLIPLoss

SIGLIP = {"objective": "siglip"}
# (name, loss kwargs, local batch sizes of rank 0 and rank 1)
CASES = [
    ("gram", {"implementation": "gram"}, (6, 6)),
    ("naive", {"implementation": "naive"}, (6, 6)),
    ("gram-unequal", {"implementation": "gram"}, (7, 4)),
    ("naive-mean-unequal", {"implementation": "naive", "normalization": "mean"}, (3, 8)),
    ("local-gram", {"implementation": "gram", "local_loss": True}, (6, 6)),
    ("local-naive", {"implementation": "naive", "local_loss": True}, (6, 6)),
    ("clip-local", {"lambda_inmodal": 0.0, "lambda_crossmodal": 0.0, "local_loss": True}, (6, 6)),
    ("c-cyclip-augmented", {"lambda_inmodal": 0.0, "augmented": True}, (5, 5)),
    *(
        (f"siglip-{impl}", {**SIGLIP, "dist_impl": impl}, (6, 6))
        for impl in ("bidir", "shift", "reduce", "gather")
    ),
    ("cy-siglip-gram", {**SIGLIP, "lambda_inmodal": 0.25, "implementation": "gram"}, (6, 6)),
    ("cy-siglip-naive-unequal", {**SIGLIP, "implementation": "naive"}, (7, 4)),
    ("siglip-unequal", {**SIGLIP, "lambda_inmodal": 0.0, "lambda_crossmodal": 0.0}, (3, 8)),
]
SIGLIP_3 = [  # 3 processes
    *((f"siglip-{impl}", {**SIGLIP, "dist_impl": impl}, (4, 4, 4)) for impl in SIGLIP_DIST_IMPLS),
    ("cy-siglip-unequal", {**SIGLIP, "lambda_inmodal": 0.25}, (5, 2, 4)),
]
D_IN, D = 10, 4  # N >= d so that "auto" would choose the Gram form too


class Towers(nn.Module):
    def __init__(self, bias: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Linear(D_IN, D)
        self.text = nn.Linear(D_IN, D)
        self.log_scale = nn.Parameter(torch.tensor(2.0))
        self.bias = nn.Parameter(torch.tensor(-2.0)) if bias else None  # SigLIP's logit_bias

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {
            "image_features": F.normalize(self.image(x), dim=-1),
            "text_features": F.normalize(self.text(y), dim=-1),
            "logit_scale": self.log_scale.exp(),
        }
        if self.bias is not None:
            out["logit_bias"] = self.bias
        return out


def make_model(loss_kwargs: dict) -> Towers:
    return Towers(bias=loss_kwargs.get("objective") == "siglip")


def make_batch(n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(n)
    return {k: torch.randn(n, D_IN, generator=g) for k in ("x", "y", "xa", "ya")}


def run_step(model: nn.Module, loss_kwargs: dict, batch: dict[str, torch.Tensor]):
    kwargs = dict(loss_kwargs)
    augmented = kwargs.pop("augmented", False)
    out = model(batch["x"], batch["y"])
    extra = {}
    if augmented:
        aug = model(batch["xa"], batch["ya"])
        extra = {
            "augmented_image_features": aug["image_features"],
            "augmented_text_features": aug["text_features"],
        }
    terms = CyCLIPLoss(**kwargs)(**out, output_dict=True, **extra)
    total = sum(terms.values())
    total.backward()
    return {k: v.detach() for k, v in terms.items()}


def single_process(loss_kwargs: dict, sizes: tuple[int, ...]):
    model = make_model(loss_kwargs)
    terms = run_step(model, loss_kwargs, make_batch(sum(sizes)))
    return terms, {n: p.grad.clone() for n, p in model.named_parameters()}


def _worker(rank: int, init_file: str, out_dir: str, cases: list) -> None:
    world = len(cases[0][2])
    tdist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        results = {}
        for name, loss_kwargs, sizes in cases:
            model = nn.parallel.DistributedDataParallel(make_model(loss_kwargs))
            full = make_batch(sum(sizes))
            start = sum(sizes[:rank])
            local = {k: v[start : start + sizes[rank]] for k, v in full.items()}
            terms = run_step(model, loss_kwargs, local)
            # Per-rank loss values (local_loss differs per rank): report their mean over ranks.
            terms = {k: dist.all_reduce_mean_(v.clone()) for k, v in terms.items()}
            grads = {n: p.grad.clone() for n, p in model.module.named_parameters()}
            results[name] = (terms, grads)
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        tdist.destroy_process_group()


def run_processes(cases: list) -> list[dict]:
    world = len(cases[0][2])
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(
            _worker,
            args=(str(Path(tmp) / "init"), tmp, cases),
            nprocs=world,
            join=True,
            start_method="spawn",
        )
        return [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=True) for r in range(world)]


@pytest.fixture(scope="module")
def two_process_results() -> list[dict]:
    return run_processes(CASES)


@pytest.fixture(scope="module")
def three_process_results() -> list[dict]:
    return run_processes(SIGLIP_3)


def assert_matches_one_process(results: list[dict], name: str, loss_kwargs: dict, sizes) -> None:
    ref_terms, ref_grads = single_process(loss_kwargs, sizes)
    assert ("bias" in ref_grads) == (loss_kwargs.get("objective") == "siglip")
    for rank_results in results:
        terms, grads = rank_results[name]
        assert set(terms) == set(ref_terms)
        for key in ref_terms:
            torch.testing.assert_close(terms[key], ref_terms[key], rtol=1e-5, atol=1e-6)
        for key in ref_grads:
            torch.testing.assert_close(grads[key], ref_grads[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name,loss_kwargs,sizes", CASES, ids=[c[0] for c in CASES])
def test_two_gloo_processes_match_one_process(two_process_results, name, loss_kwargs, sizes):
    assert_matches_one_process(two_process_results, name, loss_kwargs, sizes)


@pytest.mark.slow  # three spawned processes: ~15 s idle, 40 s on a busy machine
@pytest.mark.parametrize("name,loss_kwargs,sizes", SIGLIP_3, ids=[c[0] for c in SIGLIP_3])
def test_three_gloo_processes_match_one_process_siglip(
    three_process_results, name, loss_kwargs, sizes
):
    assert_matches_one_process(three_process_results, name, loss_kwargs, sizes)


def test_single_process_defaults() -> None:
    assert dist.rank() == 0 and dist.world_size() == 1
    assert not dist.is_distributed() and dist.is_main_process()
    x = torch.randn(3, 2, requires_grad=True)
    assert dist.gather(x) is x and dist.all_reduce_sum(x) is x
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    info = dist.init_distributed(device="cpu")
    assert (info.rank, info.world_size, info.device.type) == (0, 1, "cpu")


def test_slurm_without_master_addr_explains(monkeypatch) -> None:
    keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    with pytest.raises(RuntimeError, match="MASTER_ADDR"):
        dist.init_distributed(device="cpu")
    # Nothing leaks into later code (or tests): the environment is checked before it is changed.
    assert not any(key in os.environ for key in keys)


def test_slurm_variables_become_torchrun_variables(monkeypatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.setenv(key, "unset-marker")  # registers the undo for the keys set below
        monkeypatch.delenv(key)
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    dist._slurm_to_torchrun_env()
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == (
        "1",
        "4",
        "1",
    )
