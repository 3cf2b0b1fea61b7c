"""Train and evaluate the four methods of the paper with identical compute and settings.

CLIP, CyCLIP, C-CyCLIP (λ_in = 0) and I-CyCLIP (λ_cross = 0) differ only in the two lambdas:
model, data (the same pre-rendered tensors), seed, optimiser, schedule, steps, batch size and the
cyclic normalisation are shared fields of :class:`ClaimsConfig`. :data:`SIGLIP_METHODS` are the
same comparison on SigLIP's base objective (SigLIP, Cy-SigLIP), run with the same settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cyclip.data import DataConfig
from cyclip.evaluation import ExtractConfig, FeatureCache, SuiteConfig, evaluate_model, load_model
from cyclip.experiments.pairs import TensorPairLoader
from cyclip.losses import BASE_OBJECTIVES, Normalization
from cyclip.rundir import RunDir
from cyclip.train import (
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    TrainResult,
    train,
)


@dataclass(frozen=True)
class Method:
    """A named pair of cyclic weights on a base objective."""

    name: str
    lambda_inmodal: float
    lambda_crossmodal: float
    objective: str = "clip"
    """Base objective (``cyclip.losses.BASE_OBJECTIVES``): clip or siglip."""

    def loss_config(self, normalization: Normalization) -> LossConfig:
        cyclic = self.lambda_inmodal > 0 or self.lambda_crossmodal > 0
        base = BASE_OBJECTIVES[self.objective]
        return LossConfig(
            name=base.cyclic_name if cyclic else base.name,
            lambda_inmodal=self.lambda_inmodal,
            lambda_crossmodal=self.lambda_crossmodal,
            normalization=normalization,
        )


METHODS: tuple[Method, ...] = (
    Method("clip", 0.0, 0.0),
    Method("cyclip", 0.25, 0.25),
    Method("c-cyclip", 0.0, 0.25),  # cross-modal term only
    Method("i-cyclip", 0.25, 0.0),  # in-modal term only
)
SIGLIP_METHODS: tuple[Method, ...] = (
    Method("siglip", 0.0, 0.0, "siglip"),
    Method("cy-siglip", 0.25, 0.25, "siglip"),
)
ALL_METHODS: dict[str, Method] = {m.name: m for m in (*METHODS, *SIGLIP_METHODS)}


@dataclass(frozen=True)
class ClaimsConfig:
    """Settings shared by every method of the comparison (only the lambdas differ)."""

    model: str = "cyclip-rn-tiny"
    """open_clip architecture: the small ModifiedResNet at 64 px, the smallest tower that learns
    shape at this budget (cyclip-tiny, the ViT, stays at ~19 % shape however long it trains; see
    docs/results.md, "Why shape is not learned")."""
    train_pairs: int = 51_200
    """Pre-rendered training pairs (the first ones of builtin:shapes/pretrain); 600 x 128 = 1.5
    passes."""
    batch_size: int = 128
    steps: int = 600
    """CLIP with cyclip-rn-tiny is at ~45 % shape after 400 steps and above 60 % after 600; each
    run trains in 3-4 min on one core."""
    lr: float = 1e-3
    warmup_steps: int = 60
    normalization: Normalization = "mean"
    """Cyclic-term divisor for every method (see the batch-size sweep for "paper")."""
    seeds: tuple[int, ...] = tuple(range(8))
    """Eight seeds: each extra seed narrows the error bars of every difference."""
    suite: SuiteConfig = SuiteConfig()
    """Evaluation sizes; every protocol of the builtin suite runs."""


def train_config(cfg: ClaimsConfig, method: Method, seed: int, runs_dir: Path) -> TrainConfig:
    """The ``TrainConfig`` of one (method, seed) run."""
    return TrainConfig(
        model=ModelConfig(name=cfg.model),
        data=DataConfig(val_data=None, batch_size=cfg.batch_size, workers=0),
        loss=method.loss_config(cfg.normalization),
        optim=OptimConfig(lr=cfg.lr, warmup_steps=cfg.warmup_steps, max_steps=cfg.steps),
        run=experiment_run_config(runs_dir, f"{method.name}-seed{seed}", seed, cfg.steps),
    )


def experiment_run_config(runs_dir: Path, name: str, seed: int, steps: int) -> RunConfig:
    """The run settings every experiment run shares: about 20 log lines, one final checkpoint,
    no TensorBoard, no progress bar."""
    return RunConfig(
        output_dir=str(runs_dir),
        name=name,
        seed=seed,
        resume="latest",  # a stopped run continues (bit-exact); a new one starts fresh
        log_every=max(1, steps // 20),
        checkpoint_every=0,
        keep_last=1,
        tensorboard=False,
        progress=False,
    )


def train_method(
    cfg: ClaimsConfig,
    method: Method,
    seed: int,
    runs_dir: Path,
    pairs: tuple[torch.Tensor, torch.Tensor],
) -> tuple[Path, float]:
    """Train one run on the pre-rendered ``pairs``; returns (run dir, seconds).

    A run stopped part-way (SIGTERM, Ctrl-C, a kill) continues from its newest checkpoint the
    next time; a run that a signal stops now raises :class:`RunStopped` rather than being
    evaluated half-trained.
    """
    loader = TensorPairLoader(*pairs, batch_size=cfg.batch_size, seed=seed)
    start = time.perf_counter()
    result = train(train_config(cfg, method, seed, runs_dir), loader=loader)
    stopped(result)
    return result.run_dir, time.perf_counter() - start


class RunStopped(RuntimeError):
    """A signal stopped an experiment's run before its last step."""


def stopped(result: TrainResult) -> None:
    """Raise :class:`RunStopped` (saying how to continue) when a signal stopped ``result``."""
    if result.stopped_by is not None:
        raise RunStopped(
            f"{result.run_dir.name} stopped by {result.stopped_by} at step {result.step}; "
            "run the same command again (with --resume where the script has it) to continue it "
            "from its checkpoint"
        )


def evaluate_run(run_dir: Path, suite: SuiteConfig, cache_dir: Path | None = None) -> float:
    """Evaluate a run's last checkpoint on the builtin suite into ``run_dir/eval`` (as
    ``cyclip eval --checkpoint RUN_DIR/checkpoints/latest.pt --suite builtin`` does); returns
    seconds."""
    start = time.perf_counter()
    evaluate_model(
        load_model(RunDir(run_dir).latest, device="cpu"),
        suite,
        output_dir=RunDir(run_dir).eval,
        extract=ExtractConfig(workers=0, device="cpu"),
        cache=FeatureCache(cache_dir),
    )
    return time.perf_counter() - start
