"""Numeric precision: the one vocabulary of precisions and the autocast that implements them.

Weights always stay fp32; ``bf16`` / ``fp16`` run the forward pass under autocast. Training
accepts all of :data:`PRECISIONS` (fp16 with loss scaling, GPU only); feature extraction accepts
:data:`INFERENCE_PRECISIONS`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # torch is imported when a precision is applied, not to name one (fast --help)
    import torch

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
InferencePrecision = Literal["fp32", "bf16"]
INFERENCE_PRECISIONS: tuple[InferencePrecision, ...] = get_args(InferencePrecision)


def autocast_context(
    device: torch.device | str, precision: Precision
) -> contextlib.AbstractContextManager:
    """Autocast for bf16 / fp16, nothing for fp32 (weights always stay fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
