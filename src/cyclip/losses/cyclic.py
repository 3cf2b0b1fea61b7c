"""The cyclic consistency terms of CyCLIP (Goel et al., NeurIPS 2022), docs/method.md §1.2.

With ``I``, ``T`` the (N, d) L2-normalised image and text embeddings and ``S = I Tᵀ``:

- in-modal:    ``L_in    = ‖I Iᵀ − T Tᵀ‖²_F / Z``
- cross-modal: ``L_cross = ‖S − Sᵀ‖²_F / Z``

where ``Z = N`` ("paper", as published) or ``Z = N²`` ("mean", invariant to the batch size).

Two exact implementations of each:

- *naive*, O(N²·d) time and O(N²) memory, a direct transcription of the definition;
- *Gram*, O(N·d²) time and O(d²) memory, from the d x d Gram matrices ``A = IᵀI``, ``B = TᵀT``,
  ``C = IᵀT``:  ``‖IIᵀ − TTᵀ‖² = ‖A‖² + ‖B‖² − 2‖C‖²`` and ``‖S − Sᵀ‖² = 2⟨A, B⟩ − 2 tr(C C)``.
  A, B and C are sums over samples, so across ranks one all-reduce of three d x d matrices
  replaces gathering N x d features.

The terms are differences of large numbers: everything here runs in float32 with autocast
disabled, and the Gram-form reductions run in float64. Neither term depends on the logit scale.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

Normalization = Literal["paper", "mean"]
"""Divisor Z of the cyclic terms: "paper" = N (as published), "mean" = N² (batch-size invariant)."""
CyclicImpl = Literal["auto", "gram", "naive"]
"""How the cyclic terms are computed: "gram" O(N·d²), "naive" O(N²·d), "auto" the cheaper."""
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)
CYCLIC_IMPLS: tuple[CyclicImpl, ...] = get_args(CyclicImpl)


def check_normalization(normalization: str) -> None:
    """Raise ValueError unless ``normalization`` is one of :data:`NORMALIZATIONS`."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}: 'paper' "
            "divides by the batch size N as published, 'mean' by N² (batch-size invariant)"
        )


def check_cyclic_impl(implementation: str) -> None:
    """Raise ValueError unless ``implementation`` is one of :data:`CYCLIC_IMPLS`."""
    if implementation not in CYCLIC_IMPLS:
        raise ValueError(
            f"cyclic-term implementation must be one of {CYCLIC_IMPLS}, got {implementation!r}"
        )


def normalizer(n: int, normalization: Normalization) -> int:
    """The divisor Z of both cyclic terms for a (global) batch of ``n`` pairs.

    Every term goes through here: this is where the loss functions check ``normalization``.
    """
    check_normalization(normalization)
    return n if normalization == "paper" else n * n


def resolve_cyclic_impl(n: int, d: int, implementation: CyclicImpl) -> Literal["gram", "naive"]:
    """``auto`` picks the cheaper form: Gram costs ~3·N·d², naive ~3·N²·d."""
    check_cyclic_impl(implementation)
    if implementation == "auto":
        return "gram" if n >= d else "naive"
    return implementation


def _fp32(x: torch.Tensor) -> torch.Tensor:
    return x.float()


class _Grams(torch.autograd.Function):
    """``[IᵀI, TᵀT, IᵀT]`` with a hand-written backward.

    Autograd's generic matmul backward materialises several (N, d) temporaries per Gram; here
    each input gradient is built in a single (N, d) buffer: with upstream gradients gA, gB, gC,
    ``∂/∂I = I (gA + gAᵀ) + T gCᵀ`` and ``∂/∂T = T (gB + gBᵀ) + I gC``.
    """

    @staticmethod
    def forward(ctx, i: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(i, t)
        return torch.stack([i.T @ i, t.T @ t, i.T @ t])  # (3, d, d)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        i, t = ctx.saved_tensors
        ga, gb, gc = grad.unbind(0)  # each (d, d)
        grad_i = grad_t = None
        if ctx.needs_input_grad[0]:
            grad_i = i @ (ga + ga.T)  # (N, d)
            grad_i.addmm_(t, gc.T)
        if ctx.needs_input_grad[1]:
            grad_t = t @ (gb + gb.T)  # (N, d)
            grad_t.addmm_(i, gc)
        return grad_i, grad_t


def cyclic_grams(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """Stacked Gram matrices ``[IᵀI, TᵀT, IᵀT]``, shape (3, d, d), in float32.

    Args:
        image_features: (N, d) image embeddings.
        text_features: (N, d) text embeddings.
    """
    with torch.autocast(image_features.device.type, enabled=False):
        return _Grams.apply(_fp32(image_features), _fp32(text_features))


def inmodal_from_grams(grams: torch.Tensor, n: int, normalization: Normalization) -> torch.Tensor:
    """In-modal term from :func:`cyclic_grams` (summed over ranks if distributed)."""
    a, b, c = grams.double().unbind(0)
    value = a.square().sum() + b.square().sum() - 2 * c.square().sum()
    return (value / normalizer(n, normalization)).float()


def crossmodal_from_grams(
    grams: torch.Tensor, n: int, normalization: Normalization
) -> torch.Tensor:
    """Cross-modal term from :func:`cyclic_grams` (summed over ranks if distributed)."""
    a, b, c = grams.double().unbind(0)
    value = 2 * (a * b).sum() - 2 * (c * c.T).sum()  # tr(C C) = Σ_ij C_ij C_ji
    return (value / normalizer(n, normalization)).float()


def inmodal_cyclic_loss_naive(
    image_features: torch.Tensor, text_features: torch.Tensor, normalization: Normalization
) -> torch.Tensor:
    """``‖I Iᵀ − T Tᵀ‖²_F / Z`` built from the (N, N) similarity matrices."""
    with torch.autocast(image_features.device.type, enabled=False):
        i, t = _fp32(image_features), _fp32(text_features)
        diff = i @ i.T - t @ t.T  # (N, N)
        return diff.square().sum() / normalizer(i.shape[0], normalization)


def crossmodal_cyclic_loss_naive(
    image_features: torch.Tensor, text_features: torch.Tensor, normalization: Normalization
) -> torch.Tensor:
    """``‖S − Sᵀ‖²_F / Z`` with ``S = I Tᵀ`` built explicitly (N, N)."""
    with torch.autocast(image_features.device.type, enabled=False):
        i, t = _fp32(image_features), _fp32(text_features)
        s = i @ t.T  # (N, N)
        return (s - s.T).square().sum() / normalizer(i.shape[0], normalization)


def inmodal_cyclic_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    normalization: Normalization = "paper",
    implementation: CyclicImpl = "auto",
) -> torch.Tensor:
    """In-modal cyclic consistency: image-image similarities should equal text-text ones.

    Args:
        image_features: (N, d) L2-normalised image embeddings.
        text_features: (N, d) L2-normalised text embeddings, paired row by row.
        normalization: "paper" (÷N) or "mean" (÷N²).
        implementation: "gram" (O(N·d²)), "naive" (O(N²·d)) or "auto" (the cheaper).

    Returns:
        Scalar float32 loss, >= 0; zero when image and text features coincide.
    """
    n, d = image_features.shape
    if resolve_cyclic_impl(n, d, implementation) == "naive":  # checks implementation
        return inmodal_cyclic_loss_naive(image_features, text_features, normalization)
    return inmodal_from_grams(cyclic_grams(image_features, text_features), n, normalization)


def crossmodal_cyclic_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    normalization: Normalization = "paper",
    implementation: CyclicImpl = "auto",
) -> torch.Tensor:
    """Cross-modal cyclic consistency: ``⟨I_j, T_k⟩`` should equal ``⟨I_k, T_j⟩``.

    Args:
        image_features: (N, d) L2-normalised image embeddings.
        text_features: (N, d) L2-normalised text embeddings, paired row by row.
        normalization: "paper" (÷N) or "mean" (÷N²).
        implementation: "gram" (O(N·d²)), "naive" (O(N²·d)) or "auto" (the cheaper).

    Returns:
        Scalar float32 loss, >= 0; zero when ``I Tᵀ`` is symmetric.
    """
    n, d = image_features.shape
    if resolve_cyclic_impl(n, d, implementation) == "naive":  # checks implementation
        return crossmodal_cyclic_loss_naive(image_features, text_features, normalization)
    return crossmodal_from_grams(cyclic_grams(image_features, text_features), n, normalization)
