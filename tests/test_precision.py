"""``auto`` precision: bf16 exactly where the device computes it natively, fp32 elsewhere."""

from __future__ import annotations

import pytest
import torch

from cyclip import precision as P


@pytest.fixture(autouse=True)
def fresh_cache():
    P._resolve.cache_clear()
    yield
    P._resolve.cache_clear()


def _cpu_flags(monkeypatch, *, avx512_bf16: bool, amx: bool, machine: str = "x86_64"):
    monkeypatch.setattr(P.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")],
)
def test_auto_follows_the_cpu_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    _cpu_flags(monkeypatch, avx512_bf16=avx512_bf16, amx=amx)
    assert P.resolve_precision("auto", "cpu") == expected
    line = P.describe_precision("auto", "cpu", "--optim.precision")
    assert line.startswith(f"precision {expected} (auto: ") and "--optim.precision" in line


@pytest.mark.parametrize("given", ["fp32", "bf16", "fp16"])
def test_explicit_precisions_pass_through(monkeypatch, given):
    _cpu_flags(monkeypatch, avx512_bf16=False, amx=False)
    assert P.resolve_precision(given, "cpu") == given
    assert P.describe_precision(given, "cpu") == f"precision {given}"


def test_auto_on_cuda_without_a_gpu_or_unknown_devices_is_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert P.resolve_precision("auto", "cuda") == "fp32"
    assert P.resolve_precision("auto", "mps") == "fp32"


def test_auto_is_everywhere_the_vocabulary_is():
    assert "auto" in P.PRECISIONS and "auto" in P.INFERENCE_PRECISIONS
    assert "auto" not in P.ComputePrecision.__args__


def test_autocast_of_auto_matches_the_resolved_precision(monkeypatch):
    _cpu_flags(monkeypatch, avx512_bf16=True, amx=False)
    x = torch.randn(4, 4)
    with P.autocast_context("cpu", "auto"):
        assert (x @ x).dtype == torch.bfloat16
    P._resolve.cache_clear()
    _cpu_flags(monkeypatch, avx512_bf16=False, amx=False)
    with P.autocast_context("cpu", "auto"):
        assert (x @ x).dtype == torch.float32
