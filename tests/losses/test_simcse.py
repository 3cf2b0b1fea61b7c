"""SimCSE terms: analytic values, temperature, parity with the official transcription, the
objective's dict contract, lambda 0 = the base objective bit for bit, and 2-process parity."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from cyclip import distributed as dist
from cyclip.losses import (
    CyCLIPLoss,
    SentenceObjective,
    augmented_contrastive_loss,
    sup_simcse_loss,
    unsup_simcse_loss,
)
from cyclip.train.config import LossConfig
from cyclip.train.setup import build_loss


def official_unsup(z1: torch.Tensor, z2: torch.Tensor, temp: float) -> torch.Tensor:
    """SimCSE's models.py (cl_forward), transcribed: Similarity = cosine / temp, CE(arange)."""
    cos_sim = F.cosine_similarity(z1.unsqueeze(1), z2.unsqueeze(0), dim=-1) / temp
    labels = torch.arange(cos_sim.size(0)).long()
    return nn.CrossEntropyLoss()(cos_sim, labels)


def official_sup(z1, z2, z3, temp: float) -> torch.Tensor:
    cos_sim = F.cosine_similarity(z1.unsqueeze(1), z2.unsqueeze(0), dim=-1) / temp
    z1_z3_cos = F.cosine_similarity(z1.unsqueeze(1), z3.unsqueeze(0), dim=-1) / temp
    cos_sim = torch.cat([cos_sim, z1_z3_cos], 1)
    labels = torch.arange(cos_sim.size(0)).long()
    return nn.CrossEntropyLoss()(cos_sim, labels)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("temp", [0.05, 0.1, 1.0])
def test_identical_orthogonal_views_give_the_predicted_minimum(temp):
    n = 6
    z = torch.eye(n, dtype=torch.float64) * 3.0  # orthogonal, not unit: cosine normalises
    expected = math.log(1 + (n - 1) * math.exp(-1 / temp))
    assert float(unsup_simcse_loss(z, z, temp)) == pytest.approx(expected, rel=1e-12)
    # as the temperature falls the minimum goes to 0; all rows identical gives log N
    assert float(unsup_simcse_loss(z, z, 0.01)) < 1e-30
    same = torch.ones(n, 4, dtype=torch.float64)
    assert float(unsup_simcse_loss(same, same, temp)) == pytest.approx(math.log(n), rel=1e-12)


def test_identical_views_formula_for_any_sentences():
    z = rand(7, 5)
    c = F.normalize(z, dim=-1) @ F.normalize(z, dim=-1).T
    expected = torch.logsumexp((c - 1) / 0.05, dim=1).mean()
    torch.testing.assert_close(unsup_simcse_loss(z, z), expected, rtol=1e-12, atol=0)


def test_temperature_is_an_inverse_logit_scale():
    a, b = rand(8, 4, seed=1), rand(8, 4, seed=2)
    for temp in (0.05, 0.5):
        ref = augmented_contrastive_loss(F.normalize(a, dim=-1), F.normalize(b, dim=-1), 1 / temp)
        torch.testing.assert_close(unsup_simcse_loss(a, b, temp), ref, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="temperature"):
        unsup_simcse_loss(a, b, 0.0)


@pytest.mark.parametrize("temp", [0.05, 0.2])
def test_parity_with_the_official_simcse_loss(temp):
    z1, z2, z3 = rand(9, 6, seed=3), rand(9, 6, seed=4), rand(9, 6, seed=5)
    torch.testing.assert_close(unsup_simcse_loss(z1, z2, temp), official_unsup(z1, z2, temp))
    torch.testing.assert_close(sup_simcse_loss(z1, z2, z3, temp), official_sup(z1, z2, z3, temp))


def test_hard_negatives_equal_to_the_positives_add_log_2():
    # every denominator doubles and the numerator stays: sup = unsup + log 2
    z1, z2 = rand(5, 3, seed=6), rand(5, 3, seed=7)
    sup, unsup = sup_simcse_loss(z1, z2, z2, 0.05), unsup_simcse_loss(z1, z2, 0.05)
    torch.testing.assert_close(sup, unsup + math.log(2), rtol=1e-12, atol=1e-12)


def clip_features(n: int = 8, d: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    leaf = {
        k: torch.randn(n, d, generator=g).requires_grad_()
        for k in ("image_features", "text_features", "sentence_view_a", "sentence_view_b")
    }
    return leaf


def _forward(loss: nn.Module, leaf: dict[str, torch.Tensor]):
    feats = {k: F.normalize(v, dim=-1) for k, v in leaf.items()}
    terms = loss(**feats, logit_scale=torch.tensor(10.0), output_dict=True)
    for v in leaf.values():
        v.grad = None
    sum(terms.values()).backward()
    return terms, {k: None if v.grad is None else v.grad.clone() for k, v in leaf.items()}


def test_objective_adds_a_named_weighted_term():
    leaf = clip_features()
    base_terms, _ = _forward(CyCLIPLoss(), leaf)
    terms, grads = _forward(SentenceObjective(CyCLIPLoss(), "unsupervised", 0.3), leaf)
    assert set(terms) == set(base_terms) | {"sentence_loss"}
    expected = 0.3 * unsup_simcse_loss(leaf["sentence_view_a"], leaf["sentence_view_b"])
    torch.testing.assert_close(terms["sentence_loss"], expected.detach())
    assert grads["sentence_view_a"].abs().sum() > 0


def test_lambda_zero_is_exactly_the_base_objective():
    leaf = clip_features(seed=3)
    ref_terms, ref_grads = _forward(CyCLIPLoss(), leaf)
    terms, grads = _forward(SentenceObjective(CyCLIPLoss(), "unsupervised", 0.0), leaf)
    assert torch.equal(sum(terms.values()), sum(ref_terms.values()))
    for k in ("image_features", "text_features"):
        assert torch.equal(grads[k], ref_grads[k])
    # and the trainer's builder does not wrap at all: no sentence row is even embedded
    for cfg in (LossConfig(), LossConfig(sentence_term="unsupervised", lambda_sentence=0.0)):
        assert type(build_loss(cfg.resolved())) is CyCLIPLoss
    wrapped = build_loss(LossConfig(sentence_term="supervised", lambda_sentence=0.5).resolved())
    assert isinstance(wrapped, SentenceObjective) and wrapped.lambda_sentence == 0.5


def test_missing_sentence_features_say_what_to_do():
    feats = {k: v.detach() for k, v in clip_features().items() if not k.startswith("sentence")}
    with pytest.raises(ValueError, match="TrainStep"):
        SentenceObjective(CyCLIPLoss(), "unsupervised")(**feats, logit_scale=torch.tensor(1.0))
    with pytest.raises(ValueError, match="lambda_sentence"):
        SentenceObjective(CyCLIPLoss(), "supervised", -1.0)


def test_fp32_under_autocast():
    leaf = {k: v.detach().bfloat16() for k, v in clip_features().items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = SentenceObjective(None, "unsupervised", 1.0, text_only=True)(**leaf)
    assert terms.dtype == torch.float32


# ---------------------------------------------------------------- 2 gloo processes == 1 process

D_IN, D = 10, 4
# (name, term, sizes of rank 0 and rank 1)
DDP_CASES = [("unsup", "unsupervised", (5, 5)), ("sup-unequal", "supervised", (6, 3))]


class TextTowers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image = nn.Linear(D_IN, D)
        self.text = nn.Linear(D_IN, D)
        self.log_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x, y, s):  # s: (k*n, D_IN) sentence rows, k = 2 or 3
        t = F.normalize(self.text(torch.cat([y, s])), dim=-1)
        return F.normalize(self.image(x), dim=-1), t[: y.shape[0]], t[y.shape[0] :]


def make_inputs(n: int, k: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + n)
    return {"x": torch.randn(n, D_IN, generator=g), "y": torch.randn(n, D_IN, generator=g)} | {
        f"s{i}": torch.randn(n, D_IN, generator=g) for i in range(k)
    }


def ddp_step(model, term: str, inputs: dict[str, torch.Tensor]):
    keys = ("sentence_view_a", "sentence_view_b")
    if term == "supervised":
        keys = ("nli_anchor", "nli_positive", "nli_negative")
    rows = torch.cat([inputs[f"s{i}"] for i in range(len(keys))])
    image, text, sent = model(inputs["x"], inputs["y"], rows)
    feats = dict(zip(keys, sent.split(inputs["x"].shape[0])))
    loss = SentenceObjective(CyCLIPLoss(implementation="naive"), term, 0.5)
    scale = (model.module if hasattr(model, "module") else model).log_scale.exp()
    terms = loss(
        image_features=image, text_features=text, logit_scale=scale, **feats, output_dict=True
    )
    sum(terms.values()).backward()
    return {k: v.detach() for k, v in terms.items()}


def _slice(full: dict[str, torch.Tensor], start: int, n: int) -> dict[str, torch.Tensor]:
    return {k: v[start : start + n] for k, v in full.items()}


def _ddp_worker(rank: int, init_file: str, out_dir: str) -> None:
    tdist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        results = {}
        for name, term, sizes in DDP_CASES:
            model = nn.parallel.DistributedDataParallel(TextTowers())
            k = 2 if term == "unsupervised" else 3
            local = _slice(make_inputs(sum(sizes), k), sum(sizes[:rank]), sizes[rank])
            terms = {
                k2: dist.all_reduce_mean_(v.clone())
                for k2, v in ddp_step(model, term, local).items()
            }
            results[name] = (terms, {n: p.grad.clone() for n, p in model.module.named_parameters()})
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        tdist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: ~20 s on the busy 2-core machine
def test_two_gloo_processes_match_one_process():
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(
            _ddp_worker,
            args=(str(Path(tmp) / "init"), tmp),
            nprocs=2,
            join=True,
            start_method="spawn",
        )
        per_rank = [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, term, sizes in DDP_CASES:
        model = TextTowers()
        ref_terms = ddp_step(
            model, term, make_inputs(sum(sizes), 2 if term == "unsupervised" else 3)
        )
        ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        for results in per_rank:
            terms, grads = results[name]
            assert set(terms) == set(ref_terms) and "sentence_loss" in terms
            for key in ref_terms:
                torch.testing.assert_close(terms[key], ref_terms[key], rtol=1e-5, atol=1e-6)
            for key in ref_grads:
                torch.testing.assert_close(grads[key], ref_grads[key], rtol=1e-4, atol=1e-6)
