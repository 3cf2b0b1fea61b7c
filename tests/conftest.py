"""Shared fixtures and the opt-in ``slow`` marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared_model(name: str) -> Path:
    """``../shared/models/NAME`` beside the repository, or beside a folder above it (a git
    worktree under ``wt/`` sees the same ``shared`` as the main checkout)."""
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / "shared" / "models" / name).is_dir():
            return parent / "shared" / "models" / name
    return Path(__file__).resolve().parents[1].parent / "shared" / "models" / name


MINILM = _shared_model("all-MiniLM-L6-v2")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("CYCLIP_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or CYCLIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def shared_data() -> Path:
    """The real data sets beside the repository (``../shared/data``); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} does not exist")
    return SHARED_DATA


@pytest.fixture
def torch_global_state():
    """For tests that run training in-process: one intra-op thread (tiny models run several
    times faster with one thread when the other core is busy), and undo the global flags a run
    switches (deterministic mode, denormal flushing)."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
    torch.set_flush_denormal(False)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The local sentence-transformers folder ``../shared/models/all-MiniLM-L6-v2``; skips
    without it or without ``transformers``."""
    pytest.importorskip("transformers", reason="needs the hf extra (pip install 'cyclip[hf]')")
    if not (MINILM / "config.json").is_file():
        pytest.skip(f"model folder not available: {MINILM}")
    return MINILM
