"""Which scaled-dot-product-attention kernel the training step runs.

open_clip's transformers call ``F.scaled_dot_product_attention`` (through ``nn.MultiheadAttention``)
and torch picks a fused kernel by itself. On CPU under bf16 autocast its pick, the flash kernel,
has a slow backward at the small widths cyclip trains on CPU: in a full ``cyclip-small`` training
step at batch 256 it took 42 % of the time, and the step was only 1.1x faster than fp32. The math
kernel (plain matmuls and a softmax, which run in bf16 on CPUs with AVX512-BF16 or AMX) makes the
same bf16 step 1.5x faster than fp32 (``benchmarks/run.py``, section ``steps``). ``"auto"`` picks
math there and leaves torch's choice everywhere else (fp32, and every GPU precision).
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

AttentionKernel = Literal["auto", "torch", "math", "flash", "efficient", "cudnn"]


def resolve_attention_kernel(kernel: AttentionKernel, device: torch.device, precision: str) -> str:
    """``"auto"`` -> ``"math"`` on CPU in reduced precision, ``"torch"`` otherwise."""
    if kernel != "auto":
        return kernel
    return "math" if device.type == "cpu" and precision != "fp32" else "torch"


def attention_kernel_context(kernel: str) -> contextlib.AbstractContextManager:
    """A context in which SDPA calls use ``kernel`` (``"torch"``: no restriction).

    The backward pass follows the kernel chosen in the forward pass, so wrapping the forward is
    enough. A kernel the device or the inputs do not support makes torch raise "No available
    kernel" at the first attention call.
    """
    if kernel == "torch":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {
        "math": SDPBackend.MATH,
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
    }
    if kernel not in backends:
        raise ValueError(
            f"unknown attention kernel {kernel!r}; use one of: torch, {', '.join(backends)}"
        )
    return sdpa_kernel(backends[kernel])
