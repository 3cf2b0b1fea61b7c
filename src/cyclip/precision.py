"""Numeric precision: the one vocabulary of precisions and the autocast that implements them.

Weights always stay fp32; ``bf16`` / ``fp16`` run the forward pass under autocast. Training
accepts all of :data:`PRECISIONS` (fp16 with loss scaling, GPU only); feature extraction accepts
:data:`INFERENCE_PRECISIONS`. ``auto`` (the default everywhere) is bf16 where the device computes
it natively and fp32 elsewhere: :func:`resolve_precision` decides, once, at the start of a command.
The cyclic terms and all similarity scores are computed in fp32 whatever the precision.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # torch is imported when a precision is applied, not to name one (fast --help)
    import torch

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
InferencePrecision = Literal["auto", "fp32", "bf16"]
INFERENCE_PRECISIONS: tuple[InferencePrecision, ...] = get_args(InferencePrecision)
ComputePrecision = Literal["fp32", "bf16", "fp16"]
"""A precision with ``auto`` resolved: what autocast runs."""


def native_bf16(device: torch.device | str) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively (not emulated), and why, in a few words.

    CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and newer). CPU: the AVX512-BF16 or AMX
    instructions on x86 (as torch's own CPU capability checks report them), oneDNN's bf16 check
    on ARM (e.g. Neoverse V1); any other device: no.
    """
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        if torch.cuda.is_available() and _cuda_bf16(torch):
            return True, f"{torch.cuda.get_device_name(torch.device(device))} has bf16"
        return False, "this GPU has no native bf16"
    if kind != "cpu":
        return False, f"no native bf16 check for {kind}"
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686", "x86"):
        flags = [
            name
            for name, check in (
                ("AMX", "_is_amx_tile_supported"),
                ("AVX512-BF16", "_is_avx512_bf16_supported"),
            )
            if getattr(torch.cpu, check, lambda: False)()
        ]
        if flags:
            return True, f"CPU has {' and '.join(flags)}"
        return False, "CPU has no AVX512-BF16 / AMX"
    if machine in ("aarch64", "arm64") and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return True, "ARM CPU has bf16 instructions"
    return False, f"no native bf16 on this {machine or 'unknown'} CPU"


def _cuda_bf16(torch) -> bool:
    try:  # torch >= 2.5 tells native bf16 from emulated
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:
        return torch.cuda.is_bf16_supported()


@functools.cache
def _resolve(precision: str, device: str) -> tuple[ComputePrecision, str]:
    if precision != "auto":
        return precision, "as asked"  # type: ignore[return-value]
    native, why = native_bf16(device)
    return ("bf16" if native else "fp32"), why


def resolve_precision(precision: Precision, device: torch.device | str) -> ComputePrecision:
    """``auto`` -> ``bf16`` where ``device`` computes bf16 natively, else ``fp32``; any other
    precision is returned as given (checking it against the device is the caller's job)."""
    return _resolve(precision, str(device))[0]


def describe_precision(
    precision: Precision, device: torch.device | str, flag: str = "--precision"
) -> str:
    """One line for the start of a command, e.g. ``precision bf16 (auto: CPU has AVX512-BF16;
    --precision fp32 to override)``."""
    resolved, why = _resolve(precision, str(device))
    if precision != "auto":
        return f"precision {resolved}"
    other = "fp32" if resolved == "bf16" else "bf16"
    return f"precision {resolved} (auto: {why}; {flag} {other} to override)"


def autocast_context(
    device: torch.device | str, precision: Precision
) -> contextlib.AbstractContextManager:
    """Autocast for bf16 / fp16, nothing for fp32 (weights always stay fp32); ``auto`` is
    resolved for ``device`` first."""
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
