"""The attention-kernel choice of the training step (cyclip.train.attention)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from cyclip.train.attention import attention_kernel_context, resolve_attention_kernel

from .fakes import TensorPairLoader
from .test_loop import make_step

CPU = torch.device("cpu")


def sdpa_ops(kernel: str, dtype: torch.dtype) -> set[str]:
    """Names of the aten ops one SDPA forward + backward runs under ``kernel``."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(4, 2, 9, 8, generator=g, dtype=dtype).requires_grad_() for _ in range(3))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with attention_kernel_context(kernel):
            out = F.scaled_dot_product_attention(q, k, v)
        out.float().sum().backward()
    return {e.key for e in prof.key_averages()}


def test_auto_picks_math_on_cpu_in_reduced_precision_only() -> None:
    assert resolve_attention_kernel("auto", CPU, "bf16") == "math"
    assert resolve_attention_kernel("auto", CPU, "fp16") == "math"
    assert resolve_attention_kernel("auto", CPU, "fp32") == "torch"
    assert resolve_attention_kernel("auto", torch.device("cuda"), "bf16") == "torch"
    assert resolve_attention_kernel("flash", CPU, "bf16") == "flash"


def test_math_kernel_runs_no_fused_attention_forward_or_backward() -> None:
    ops = sdpa_ops("math", torch.bfloat16)
    assert "aten::_scaled_dot_product_attention_math" in ops
    assert not any("flash" in op for op in ops)


def test_flash_restriction_runs_the_flash_kernel_both_ways() -> None:
    ops = sdpa_ops("flash", torch.bfloat16)
    assert any("flash_attention" in op and "backward" in op for op in ops)
    assert "aten::_scaled_dot_product_attention_math" not in ops


def test_unknown_kernel_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="torch, math, flash"):
        attention_kernel_context("fastest")


def test_bf16_step_with_math_kernel_matches_torch_kernel() -> None:
    loader = TensorPairLoader(32, batch_size=32)
    batch = {"images": loader.images, "texts": loader.texts}
    math_step = make_step(precision="bf16", attention_kernel="auto")
    torch_step = make_step(precision="bf16", attention_kernel="torch")
    assert math_step.attention_kernel == "math" and torch_step.attention_kernel == "torch"
    for _ in range(3):
        a = math_step([batch], 1e-3).losses["loss"]
        b = torch_step([batch], 1e-3).losses["loss"]
        # Same maths, different bf16 rounding: equal to bf16 precision, not bit for bit.
        assert a == pytest.approx(b, rel=2e-2)
