"""The cyclic terms: analytic cases, Gram vs naive parity, docs/method.md §1.2 as written, laws."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cyclip.losses import (
    crossmodal_cyclic_loss,
    cyclic_grams,
    inmodal_cyclic_loss,
)

TERMS = [inmodal_cyclic_loss, crossmodal_cyclic_loss]


def features(
    n: int, d: int, seed: int = 0, noise: float = 0.7
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    i = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    t = F.normalize(i + noise * torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    return i.float(), t.float()


def spec_inmodal(i: torch.Tensor, t: torch.Tensor) -> float:
    """docs/method.md §1.2 written as the double sum over j, k, in float64."""
    i, t = i.double(), t.double()
    n = i.shape[0]
    total = 0.0
    for j in range(n):
        for k in range(n):
            total += (float(i[j] @ i[k]) - float(t[j] @ t[k])) ** 2
    return total / n


def spec_crossmodal(i: torch.Tensor, t: torch.Tensor) -> float:
    i, t = i.double(), t.double()
    n = i.shape[0]
    total = 0.0
    for j in range(n):
        for k in range(n):
            total += (float(i[j] @ t[k]) - float(i[k] @ t[j])) ** 2
    return total / n


@pytest.mark.parametrize("method", ["naive", "gram"])
def test_matches_spec_double_sum(method: str) -> None:
    i, t = features(12, 5)
    assert inmodal_cyclic_loss(i, t, "paper", method).item() == pytest.approx(
        spec_inmodal(i, t), rel=1e-5
    )
    assert crossmodal_cyclic_loss(i, t, "paper", method).item() == pytest.approx(
        spec_crossmodal(i, t), rel=1e-5
    )


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize("method", ["naive", "gram"])
def test_identical_features_give_zero(term, method: str) -> None:
    i, _ = features(32, 16)
    assert term(i, i.clone(), "paper", method).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("method", ["naive", "gram"])
def test_symmetric_similarity_gives_zero_crossmodal(method: str) -> None:
    i, _ = features(40, 8)
    # T = I R with R a symmetric matrix: S = I R Iᵀ is symmetric but T differs from I.
    g = torch.Generator().manual_seed(3)
    m = torch.randn(8, 8, generator=g)
    r = m + m.T
    t = i @ r
    assert crossmodal_cyclic_loss(i, t, "paper", method).item() == pytest.approx(0.0, abs=1e-3)
    # ... while the in-modal term is clearly non-zero for the same pair.
    assert inmodal_cyclic_loss(i, t, "paper", method).item() > 1.0


@pytest.mark.parametrize("n,d", [(7, 3), (64, 32), (300, 16), (33, 128), (512, 64)])
@pytest.mark.parametrize("term", TERMS)
def test_gram_equals_naive_in_value_and_gradient(n: int, d: int, term) -> None:
    i0, t0 = features(n, d, seed=n + d)
    grads = {}
    for method in ("naive", "gram"):
        i, t = i0.clone().requires_grad_(), t0.clone().requires_grad_()
        value = term(i, t, "paper", method)
        value.backward()
        grads[method] = (value.detach(), i.grad, t.grad)
    (vn, gin, gtn), (vg, gig, gtg) = grads["naive"], grads["gram"]
    torch.testing.assert_close(vg, vn, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gig, gin, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gtg, gtn, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("term", TERMS)
def test_mean_normalisation_is_paper_over_n(term) -> None:
    i, t = features(50, 10)
    paper = term(i, t, "paper")
    mean = term(i, t, "mean")
    torch.testing.assert_close(mean * 50, paper, rtol=1e-6, atol=0)


@pytest.mark.parametrize("term", TERMS)
def test_auto_picks_gram_for_large_batches_and_agrees(term) -> None:
    i, t = features(96, 8)  # N >= d: auto uses the Gram form
    torch.testing.assert_close(term(i, t, "paper", "auto"), term(i, t, "paper", "naive"))


def test_grams_are_float32_under_bf16_autocast() -> None:
    i, t = features(64, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        grams = cyclic_grams(i.bfloat16(), t.bfloat16())
        value = inmodal_cyclic_loss(i.bfloat16(), t.bfloat16(), "paper", "naive")
    assert grams.dtype == torch.float32
    assert value.dtype == torch.float32
    reference = inmodal_cyclic_loss(i.bfloat16().float(), t.bfloat16().float(), "paper", "naive")
    torch.testing.assert_close(value, reference)


def test_invalid_arguments_are_rejected() -> None:
    i, t = features(4, 3)
    with pytest.raises(ValueError, match="normalization"):
        inmodal_cyclic_loss(i, t, "sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="implementation"):
        crossmodal_cyclic_loss(i, t, "paper", "fast")  # type: ignore[arg-type]


shapes = st.tuples(st.integers(2, 24), st.integers(1, 12), st.integers(0, 10_000))


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(["naive", "gram"]))
def test_properties(shape, method: str) -> None:
    n, d, seed = shape
    i, t = features(n, d, seed)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    for term in TERMS:
        value = term(i, t, "paper", method)
        assert value.item() >= -1e-5  # a sum of squares, up to rounding
        # Invariant to permuting the batch (pairs stay pairs).
        assert term(i[perm], t[perm], "paper", method).item() == pytest.approx(
            value.item(), rel=1e-4, abs=1e-5
        )
        # Symmetric under swapping the modalities.
        assert term(t, i, "paper", method).item() == pytest.approx(value.item(), rel=1e-4, abs=1e-5)
    # Both terms are bounded: each entry of the difference lies in [-2, 2].
    assert inmodal_cyclic_loss(i, t).item() <= 4 * n + 1e-4
    assert math.isfinite(crossmodal_cyclic_loss(i, t).item())
