"""Experiments that reproduce the paper's claims at laptop scale.

:mod:`~cyclip.experiments.pairs` pre-renders a fixed training set once so every method and seed
trains on identical tensors; :mod:`~cyclip.experiments.claims` trains and evaluates CLIP, CyCLIP,
C-CyCLIP and I-CyCLIP (and SigLIP, Cy-SigLIP); :mod:`~cyclip.experiments.stats` turns the evaluation files into the
paper's tables with mean ± std over seeds; :mod:`~cyclip.experiments.sweep` is the batch-size
sweep of the "paper" vs "mean" normalisation; :mod:`~cyclip.experiments.records` writes the
committed one-line-per-run record ``runs.jsonl``. The entry point is ``experiments/paper_claims.py``.
"""

from cyclip.experiments.claims import (
    ALL_METHODS,
    METHODS,
    SIGLIP_METHODS,
    ClaimsConfig,
    Method,
    evaluate_run,
    train_method,
)
from cyclip.experiments.pairs import TensorPairLoader, render_pairs
from cyclip.experiments.records import read_run_records, record_metrics, write_run_records
from cyclip.experiments.stats import collect_metrics, compare, summarise
from cyclip.experiments.sweep import SweepConfig, is_collapsed, run_sweep

__all__ = [
    "ALL_METHODS",
    "METHODS",
    "SIGLIP_METHODS",
    "ClaimsConfig",
    "Method",
    "SweepConfig",
    "TensorPairLoader",
    "collect_metrics",
    "compare",
    "evaluate_run",
    "is_collapsed",
    "read_run_records",
    "record_metrics",
    "render_pairs",
    "run_sweep",
    "summarise",
    "train_method",
    "write_run_records",
]
